"""Data sets: each loader returns numpy arrays and says where they came from."""

from .app_categories import (AppCategorySet, AppSplit, app_categories, load_app_categories,
                             make_app_categories)
from .base import Dataset
from .circles import make_circles
from .mnist import MNIST3v8, load_mnist_3v8, read_idx
from .user_file import UserData, encode_labels, parse_user_file

__all__ = [
    "AppCategorySet", "AppSplit", "Dataset", "MNIST3v8", "UserData",
    "app_categories", "load_app_categories", "load_mnist_3v8", "make_app_categories",
    "encode_labels", "make_circles", "parse_user_file", "read_idx",
]
