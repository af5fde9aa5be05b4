"""Skeleton data: layouts, readers, the prepared on-disk cache, preprocessing and one-shot protocols."""
