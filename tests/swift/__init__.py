"""Tests against a real OpenStack Swift with its S3 API (marker ``swift``)."""
