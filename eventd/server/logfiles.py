"""
Finding twistd's log file, to reopen it on SIGHUP.

twistd opens its --logfile as a L{LogFile} inside a file observer it
registers with the global log publisher, and offers no public handle on
either.  So this module reads two private attributes, and is the only one
that does: C{LogPublisher._observers} and C{FileLogObserver._outFile}.
Checked against Twisted 24.7 to 26.10; tests/server/test_logfiles.py fails
when a Twisted release changes either, and should one be missing here,
L{log_files} finds nothing (SIGHUP then reopens nothing, and says so)
rather than failing.
"""

from typing import Iterator

from twisted.logger import LogPublisher, globalLogPublisher
from twisted.python.logfile import LogFile


def log_files(publisher: LogPublisher = globalLogPublisher) -> Iterator[LogFile]:
    """
    The log files the observers of C{publisher} write to.
    """
    for observer in getattr(publisher, "_observers", ()):
        out = getattr(observer, "_outFile", None)
        if isinstance(out, LogFile):
            yield out
