"""What every package's CLI module shares."""

from __future__ import annotations

import logging

FEEDBACK_HELP = "none, or a comma list of env-error,refine,teacher,reflect"
FORMAT_HELP = "react, function_calling (JSON in the text) or tool_calls (native; vLLM parses the calls)"
TOOL_PARSER_HELP = "vLLM's --tool-call-parser when --action-format tool_calls starts vLLM"


def setup_logging(verbose: bool) -> None:
    """INFO logs with -v, else warnings only."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
