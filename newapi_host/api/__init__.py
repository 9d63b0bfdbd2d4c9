"""The management API under ``/api``, in New API's envelope."""
