//! The rules, one section each, with an example that runs as a doctest.
