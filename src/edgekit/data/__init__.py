"""Real images for calibration and evaluation: loading, preprocessing by a model card, splits."""
from .sources import (DEFAULT_PHOTOS, ImageSet, default_photos, load_image_set,
                      load_npy, split_calibration_eval)

__all__ = ["DEFAULT_PHOTOS", "ImageSet", "default_photos", "load_image_set", "load_npy",
           "split_calibration_eval"]
