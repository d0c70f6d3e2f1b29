"""Page-number pagination for every list: ?page=N&page_size=M (M up to 500)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_page_message = "page {page_number}: {message}"

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        number = super().get_page_number(request, paginator)
        if number in self.last_page_strings:
            return number
        try:
            if int(number) >= 1:
                return number
        except (TypeError, ValueError):
            pass
        raise ValidationError({"page": [f"{number!r} is not a page number (1, 2, ... or last)"]})

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError(
                {"page_size": [f"{raw!r} is not an integer (1 to {self.max_page_size})"]}
            ) from None
        if size < 1:
            raise ValidationError({"page_size": [f"must be at least 1, got {size}"]})
        return min(size, self.max_page_size)
