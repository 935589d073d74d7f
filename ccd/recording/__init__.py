"""Call recording: which calls are recorded, their files, PCI pauses and retention."""
