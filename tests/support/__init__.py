"""Shared test helpers: a moto server with the template's resources, factories, fixed instants."""
