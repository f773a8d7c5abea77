"""Azure Functions app (Python v2 programming model): the failure analysis over HTTP.

GET or POST /api/failure_analysis, with a function key. The logic lives in the
user_failure_stats package (``user_failure_stats.endpoint``), the same code the notebook uses;
this file only adapts Azure's request and response objects. Settings (DB_URL and the rest)
come from the app settings, which Azure exposes as environment variables.
"""

import json

import azure.functions as func

from user_failure_stats.endpoint import BadParameter, request_values
from user_failure_stats.endpoint import failure_analysis as analyse

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(
    route="failure_analysis",
    methods=[func.HttpMethod.GET, func.HttpMethod.POST],
    auth_level=func.AuthLevel.FUNCTION,
)
def failure_analysis(req: func.HttpRequest) -> func.HttpResponse:
    """Per-user failure rates for a window, as JSON (or CSV with ``format=csv``)."""
    try:
        values = request_values(req.params, req.get_body())
    except BadParameter as exc:
        return func.HttpResponse(
            json.dumps({"error": str(exc), "parameter": exc.parameter}),
            status_code=400,
            mimetype="application/json",
        )
    answer = analyse(values)
    return func.HttpResponse(
        answer.body, status_code=answer.status, mimetype=answer.mimetype, headers=answer.headers
    )
