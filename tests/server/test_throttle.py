"""
L{eventd.server.throttle}: when a host's next login may be checked, with a
controlled clock.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from eventd.server import throttle
from eventd.server.throttle import (
    FIRST_DELAY_SECONDS,
    MEMORY_SECONDS,
    MOST_DELAY_SECONDS,
    LoginThrottle,
    spacing,
)


class SpacingTests(SynchronousTestCase):
    def test_the_spacing_doubles_from_a_quarter_second_up_to_eight(self):
        spacings = [spacing(failures) for failures in range(1, 10)]
        self.assertEqual(spacings, [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0])
        self.assertEqual((FIRST_DELAY_SECONDS, MOST_DELAY_SECONDS), (0.25, 8.0))

    def test_no_failures_no_spacing(self):
        self.assertEqual(spacing(0), 0.0)

    def test_a_great_many_failures_stay_at_the_bound(self):
        """
        No overflow, and no spacing past the bound: C{0.25 * 2 ** (n - 1)}
        is an int too large for a float past 1,025 failures.
        """
        for failures in (1_025, 1_026, 2_000, 10**6):
            self.assertEqual(spacing(failures), 8.0, failures)


class ReserveTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.throttle = LoginThrottle(self.clock)

    def reserve(self, times: int = 1, host: str = "10.0.0.1") -> list[float]:
        return [self.throttle.reserve(host) for _ in range(times)]

    def fail_times(self, times: int = 1, host: str = "10.0.0.1") -> None:
        for _ in range(times):
            self.throttle.failed(host)

    def test_a_host_that_never_failed_is_checked_at_once(self):
        """However many of its logins there are, and nothing is remembered."""
        self.assertEqual(self.reserve(100), [0.0] * 100)
        self.assertEqual(len(self.throttle), 0)

    def test_checks_waiting_are_spaced_as_if_each_failed(self):
        """
        After one failure the next check is a quarter second away, and each
        check still waiting counts as a failure to come: a batch of guesses
        is spaced as a guesser waiting for each refusal would be.
        """
        self.fail_times()
        self.assertEqual(self.reserve(4), [0.25, 0.75, 1.75, 3.75])

    def test_after_more_failures_the_checks_are_further_apart(self):
        self.fail_times(3)
        self.assertEqual(self.reserve(3), [1.0, 3.0, 7.0])

    def test_the_slots_are_at_most_eight_seconds_apart(self):
        self.fail_times(2_000)
        self.assertEqual(self.reserve(3), [8.0, 16.0, 24.0])

    def test_a_check_waits_only_for_what_is_left_of_its_slot(self):
        self.fail_times()
        self.clock.advance(0.1)
        self.assertEqual(self.reserve(), [0.15])

    def test_a_slot_gone_by_is_not_kept_waiting_for(self):
        """
        Once a host's next slot is past, its next check runs at once, and
        the one after that a spacing later.
        """
        self.fail_times()
        self.clock.advance(5)
        self.assertEqual(self.reserve(2), [0.0, 0.5])

    def test_a_failure_pushes_the_next_check_a_spacing_from_now(self):
        self.fail_times()
        self.assertEqual(self.reserve(), [0.25])
        self.clock.advance(0.25)
        self.fail_times()  # the check ran, and failed: the second failure
        self.assertEqual(self.reserve(), [0.5])

    def test_a_failure_does_not_bring_a_later_slot_nearer(self):
        self.fail_times()
        self.assertEqual(self.reserve(4), [0.25, 0.75, 1.75, 3.75])
        self.fail_times()
        self.assertEqual(self.reserve(), [7.75])

    def test_hosts_are_counted_apart(self):
        self.fail_times(2)
        self.assertEqual(self.reserve(host="10.0.0.2"), [0.0])
        self.fail_times(host="10.0.0.2")
        self.assertEqual(self.reserve(host="10.0.0.2"), [0.25])
        self.assertEqual(self.reserve(), [0.5])
        self.assertEqual(len(self.throttle), 2)


class MemoryTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.throttle = LoginThrottle(self.clock)

    def test_failures_are_forgotten_after_a_quiet_minute(self):
        self.assertEqual(MEMORY_SECONDS, 60.0)
        self.throttle.failed("10.0.0.1")
        self.throttle.failed("10.0.0.1")
        self.clock.advance(60.5)
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.0)
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.0)
        self.assertEqual(len(self.throttle), 0)
        self.throttle.failed("10.0.0.1")
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.25)  # the first again

    def test_failures_less_than_a_minute_apart_are_remembered(self):
        """The quiet minute counts from the last failure, not the first."""
        self.throttle.failed("10.0.0.1")
        for _ in range(3):
            self.clock.advance(59.0)
            self.throttle.failed("10.0.0.1")
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 2.0)  # the fourth's spacing

    def test_time_alone_does_not_forgive_before_the_minute(self):
        self.throttle.failed("10.0.0.1")
        self.clock.advance(59.9)
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.0)  # its slot is past
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.5)  # but it is remembered
        self.throttle.failed("10.0.0.1")
        self.assertEqual(len(self.throttle), 1)

    def test_a_pending_slot_keeps_the_failures_remembered(self):
        """
        Checks still waiting for their slots a minute after the last
        failure are not let through at once: the host is forgotten only
        once no slot of it is pending.
        """
        for _ in range(13):
            self.throttle.failed("10.0.0.1")
        slots = [self.throttle.reserve("10.0.0.1") for _ in range(10)]
        self.assertEqual(slots[-1], 80.0)
        self.clock.advance(61)
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 88.0 - 61)
        self.clock.advance(96 - 61)  # past every slot, 96 s after the last failure
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.0)  # still remembered
        for _ in range(12):  # every check that took a slot was done, and right
            self.throttle.checked("10.0.0.1")
        self.assertEqual(self.throttle.reserve("10.0.0.1"), 0.0)
        self.assertEqual(len(self.throttle), 0)


class BoundTests(SynchronousTestCase):
    """
    However many hosts fail, the throttle remembers at most HOSTS, the
    longest quiet forgotten first.
    """

    def setUp(self):
        self.patch(throttle, "HOSTS", 3)
        self.clock = Clock()
        self.throttle = LoginThrottle(self.clock)

    def fail_each(self, *hosts: str) -> None:
        for host in hosts:
            self.throttle.failed(host)
            self.clock.advance(1)

    def slots(self, host: str) -> list[float]:
        """The waits of two checks of C{host} taken now."""
        return [self.throttle.reserve(host), self.throttle.reserve(host)]

    def test_a_flood_of_hosts_costs_bounded_memory(self):
        self.fail_each(*(f"10.0.{n // 256}.{n % 256}" for n in range(1_000)))
        self.assertEqual(len(self.throttle), 3)

    def test_the_longest_quiet_host_is_forgotten_first(self):
        self.fail_each("a", "b", "c")
        self.fail_each("a")  # a failed again: b is now the longest quiet
        self.fail_each("d")
        self.assertEqual(len(self.throttle), 3)
        self.assertEqual(self.slots("b"), [0.0, 0.0])  # forgotten
        self.assertEqual(self.slots("c"), [0.0, 0.5])
        self.assertEqual(self.slots("a"), [0.0, 1.0])  # its two failures
        self.assertEqual(self.slots("d"), [0.0, 0.5])
