"""The api service's routers."""

from sticky.api.routes import applications, categories, products, sessions, tap, things

routers = [
    things.router,
    applications.router,
    products.router,
    categories.router,
    sessions.router,
    tap.router,
]
