"""Ids: unguessable, and the ones made by the thousand sort in the order they were made."""

from __future__ import annotations

import random
import re
import time

from sticky.kernel.ids import TIME_PART_LENGTH, new_id, ordered_id, ordered_ids, time_part

ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyz"


def test_new_ids_are_the_prefix_and_twenty_random_characters() -> None:
    made = {new_id("usr") for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"usr_[0-9a-km-z]{20}", made_id) for made_id in made)


def test_the_time_part_sorts_as_the_times_do() -> None:
    assert time_part(0) == "0" * TIME_PART_LENGTH
    last_millisecond = (len(ALPHABET) ** TIME_PART_LENGTH - 1) * 1_000_000
    assert time_part(last_millisecond) == "z" * TIME_PART_LENGTH  # the year 4467
    times = [random.randrange(0, last_millisecond) for _ in range(2000)]
    times += [1_796_500_000_000_000_000 + step * 1_000_000 for step in range(100)]  # adjacent
    assert sorted(times, key=time_part) == sorted(times, key=lambda t: t // 1_000_000)
    assert all(len(time_part(t)) == TIME_PART_LENGTH for t in times)


def test_ordered_ids_sort_as_made_and_are_as_unguessable_as_new_ids() -> None:
    before = time_part()
    earlier = ordered_id("ses")
    time.sleep(0.002)
    later = ordered_id("ses")
    after = time_part()
    assert earlier < later
    assert re.fullmatch(r"ses_[0-9a-km-z]{29}", later)
    assert before <= earlier[4 : 4 + TIME_PART_LENGTH] <= later[4 : 4 + TIME_PART_LENGTH] <= after
    # Within one millisecond the 20 random characters still differ.
    same_moment = {ordered_id("evt")[4 + TIME_PART_LENGTH :] for _ in range(1000)}
    assert len(same_moment) == 1000


def test_ordered_ids_made_together_share_their_time_and_not_their_randomness() -> None:
    assert ordered_ids("evt", 0) == []
    before = time_part()
    made = ordered_ids("evt", 1000)
    after = time_part()
    assert len(set(made)) == 1000
    assert all(re.fullmatch(r"evt_[0-9a-km-z]{29}", made_id) for made_id in made)
    assert len({made_id[4 : 4 + TIME_PART_LENGTH] for made_id in made}) == 1
    assert before <= made[0][4 : 4 + TIME_PART_LENGTH] <= after
