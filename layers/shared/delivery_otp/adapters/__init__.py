"""Adapters: the only modules that talk to AWS. Each wraps SDK failures in DependencyUnavailable."""
