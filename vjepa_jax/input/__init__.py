"""Input: video decoding and augmentation on the host, normalisation on device."""
