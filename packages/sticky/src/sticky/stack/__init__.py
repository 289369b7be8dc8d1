"""Running the platform: the process types, the gateway's configuration, ``sticky up``."""
