"""The api service: things, flows, products, categories, consumer sessions, the tap."""
