"""The platform's resources, each a sync class and its async twin sharing their calls."""
