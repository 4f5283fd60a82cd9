"""Test doubles for services that cannot be fetched on the project's machines."""
