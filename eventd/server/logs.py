"""
Log observers for twistd's --logger option.

    twistd -n --logger eventd.server.logs.json_stdout eventd

writes every log event as one JSON object per line on standard output, for
journald or a log shipper to pick up, with the structured fields (peer,
uri, counts...) kept as fields rather than folded into text.
"""

import sys

from twisted.logger import ILogObserver, jsonFileLogObserver


def json_stdout() -> ILogObserver:
    """
    One JSON object per line on standard output.

    The real standard output is taken now: twistd later points sys.stdout at
    the log system itself, and an observer writing there would write into
    itself.
    """
    return jsonFileLogObserver(sys.stdout, recordSeparator="")
