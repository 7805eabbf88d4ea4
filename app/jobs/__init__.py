"""Background jobs: plain functions taking ids, safe to run twice, on RQ or in-process."""
