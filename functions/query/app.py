"""The query function: what researchers call."""

from chalicelib import routes, wiring

from functions.common.app import LomasChalice

app = LomasChalice(app_name="lomas-query")
app.register_blueprint(routes.bp)
deps = wiring.deps
