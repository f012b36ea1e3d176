"""End-to-end tests of the support desk in a real browser."""
