"""
Tests for L{eventd.server.logbudget}: lines over budget are held back and
counted, and the next line written says how many.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from eventd.server.logbudget import LogBudget


class LogBudgetTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.budget = LogBudget(self.clock, rate=2, burst=3)

    def test_a_burst_is_written_then_lines_are_held_back(self):
        self.assertEqual([self.budget.allow() for _ in range(5)], ["", "", "", None, None])

    def test_the_next_line_written_counts_those_held_back(self):
        for _ in range(5):
            self.budget.allow()
        self.clock.advance(0.5)
        self.assertEqual(self.budget.allow(), " (2 more lines like this not written)")
        self.assertIsNone(self.budget.allow())

    def test_the_budget_refills_at_its_rate_up_to_the_burst(self):
        for _ in range(3):
            self.budget.allow()
        self.clock.advance(100)
        self.assertEqual([self.budget.allow() for _ in range(4)], ["", "", "", None])
