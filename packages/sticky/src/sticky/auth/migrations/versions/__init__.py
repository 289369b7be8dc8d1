"""Auth's revisions, oldest first."""
