"""Lambda entrypoint of the query function: `functions.query.handler.handler`.

The image's `lambda` target runs it. It serves the query app, and the admin app's
routes that need the data stack (`/admin/datasets/{name}/check` loads the data
with pandas and pyarrow, which the admin function's zip does not carry); the API
sends only those admin paths here.
"""

from functions.common.lambda_events import lambda_handler

handler = lambda_handler("query", "admin")
