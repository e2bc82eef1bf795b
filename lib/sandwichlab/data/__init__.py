"""Data sets: each loader returns numpy arrays and says where they came from."""

from .app_categories import (AppCategorySet, AppSplit, app_categories, load_app_categories,
                             make_app_categories)
from .base import Dataset
from .circles import make_circles
from .mnist import MNIST3v8, load_mnist_3v8, read_idx

__all__ = [
    "AppCategorySet", "AppSplit", "Dataset", "MNIST3v8",
    "app_categories", "load_app_categories", "load_mnist_3v8", "make_app_categories",
    "make_circles", "read_idx",
]
