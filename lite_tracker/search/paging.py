"""Page tokens and ``max_results`` limits, in MLflow's format.

A page token is ``base64(json.dumps({"offset": N}))``: opaque to callers, offset-based, and (as in
MLflow) not stable when runs are added between pages.
"""

from __future__ import annotations

import base64
import binascii
import json

from lite_tracker.errors import InvalidParameterValue

SEARCH_MAX_RESULTS_THRESHOLD = 50000
MAX_OFFSET = 2**31 - 1  # larger offsets are no page of any store: refused rather than passed to SQL
MAX_TOKEN_LENGTH = 1024


def encode_page_token(offset: int) -> str:
    """Encode the offset of the next page as an opaque page token.

    Args:
        offset: Number of rows already returned (>= 0).

    Returns:
        The token, ``base64`` of ``{"offset": offset}``.

    Raises:
        InvalidParameterValue: ``offset`` is not an integer >= 0.

    Example:
        >>> encode_page_token(100)
        'eyJvZmZzZXQiOiAxMDB9'
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameterValue(f"Invalid page offset {offset!r}: expected an integer >= 0")
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """Decode a page token into the offset of the page it points to.

    Args:
        token: A token from :func:`encode_page_token` (or MLflow); ``None`` or ``""`` is the first page.

    Returns:
        The offset, 0 for the first page.

    Raises:
        InvalidParameterValue: The token is not one this module produced.

    Example:
        >>> decode_page_token("eyJvZmZzZXQiOiAxMDB9")
        100
    """
    if not token:
        return 0
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        shown = token[:40] + "..." if isinstance(token, str) else token
        raise InvalidParameterValue(f"Invalid page token {shown!r}: pass the next_page_token of a previous page")
    try:
        decoded = json.loads(base64.b64decode(token, validate=True))
    except (TypeError, ValueError, RecursionError, binascii.Error) as e:
        raise InvalidParameterValue(f"Invalid page token {token!r}: could not be decoded") from e
    offset = decoded.get("offset") if isinstance(decoded, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameterValue(f"Invalid page token {token!r}: it holds no valid offset")
    return offset


def validate_max_results(n: object, maximum: int = SEARCH_MAX_RESULTS_THRESHOLD) -> int:
    """Check a ``max_results`` argument the way MLflow does.

    Args:
        n: The requested page size.
        maximum: The largest allowed value (MLflow's ``SEARCH_MAX_RESULTS_THRESHOLD``, 50000).

    Returns:
        ``n``, now known to be an ``int`` between 1 and ``maximum``.

    Raises:
        InvalidParameterValue: ``n`` is not an integer, is below 1 or above ``maximum``.

    Example:
        >>> validate_max_results(1000)
        1000
    """
    # MLflow's wording, which its users and tests match on.
    prefix = f"Invalid value {n!r} for parameter 'max_results' supplied."
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameterValue(f"{prefix} It must be a positive integer")
    if n > maximum:
        raise InvalidParameterValue(f"{prefix} It must be at most {maximum}")
    return n
