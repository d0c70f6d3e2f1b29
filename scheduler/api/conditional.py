"""ETags on the REST API's reads: a client that sends back ``If-None-Match`` gets a
304 with no body when nothing it would see has changed (dashboards and scripts that
poll). The tag is a hash of the JSON body, so it is exact; it saves the transfer and
the client's parsing, not the server's queries."""

from __future__ import annotations

from typing import Any

from django.utils.cache import get_conditional_response, set_response_etag


class ETagMixin:
    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            response.render()
            set_response_etag(response)
            return get_conditional_response(request, etag=response["ETag"], response=response)
        return response
