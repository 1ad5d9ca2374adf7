"""Domain refusals to NETCONF ``<rpc-error>``, in one place.

The core says *why* (a sentence) and *how bad* (an HTTP-style code); NETCONF needs an error-tag. The
code also travels in ``<error-info><error_code>`` (ESC namespace), which ``esc_nc_cli`` prints the way
ESC does.
"""

from __future__ import annotations

from esc_netconf.core.errors import LifecycleError
from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError

ESC_NS = "http://www.cisco.com/esc/esc"
ERROR_CODE = f"{{{ESC_NS}}}error_code"

_TAGS = {
    400: ErrorTag.INVALID_VALUE,
    404: ErrorTag.DATA_MISSING,
    409: ErrorTag.OPERATION_FAILED,
}


def netconf_error(error: LifecycleError) -> NetconfError:
    code = error.status_code
    return NetconfError(
        _TAGS.get(code, ErrorTag.OPERATION_FAILED),
        error.message,
        type=ErrorType.APPLICATION,
        info={ERROR_CODE: str(code)},
        app_tag={409: "state-conflict", 500: "vim-failure"}.get(code),
    )
