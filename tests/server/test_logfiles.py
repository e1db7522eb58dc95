"""
L{eventd.server.logfiles} reads two private attributes of Twisted's
logging; these tests fail when a Twisted release changes either.
"""

import os
import tempfile

from twisted.logger import LogPublisher, textFileLogObserver
from twisted.python.logfile import LogFile
from twisted.trial.unittest import SynchronousTestCase

from eventd.server.logfiles import log_files


class LogFilesTests(SynchronousTestCase):
    def test_finds_the_log_file_of_a_file_observer_as_twistd_makes_it(self):
        folder = tempfile.mkdtemp(prefix="eventd-logfiles-")
        log_file = LogFile("eventd.log", folder)
        self.addCleanup(log_file.close)
        publisher = LogPublisher(textFileLogObserver(log_file))
        self.assertEqual(list(log_files(publisher)), [log_file])

    def test_observers_without_a_log_file_are_passed_over(self):
        null = open(os.devnull, "w")
        self.addCleanup(null.close)
        publisher = LogPublisher(lambda event: None, textFileLogObserver(null))
        self.assertEqual(list(log_files(publisher)), [])
