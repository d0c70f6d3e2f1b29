"""The REST API under /api/v1/: thin DRF adapters over ``scheduler.service``."""
