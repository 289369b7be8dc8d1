"""The api service: things, applications (flows), products, categories, consumer sessions, the tap."""
