"""Bank holidays by UK nation: the days each nation has off, by the names people know them by."""

from __future__ import annotations

from datetime import date

import pytest

from bot.bank_holidays import (NationError, bank_holidays_between, holiday_name, is_bank_holiday,
                               next_working_day, parse_nation)

NATIONS = ("England", "Wales", "Scotland", "Northern Ireland")


@pytest.mark.parametrize("nation", NATIONS)
def test_new_years_day_is_a_bank_holiday_everywhere(nation):
    assert is_bank_holiday(date(2027, 1, 1), nation)
    assert holiday_name(date(2027, 1, 1), nation) == "New Year's Day"


def test_st_andrews_day_is_a_bank_holiday_in_scotland_only():
    assert holiday_name(date(2027, 11, 30), "Scotland") == "Saint Andrew's Day"
    assert not any(is_bank_holiday(date(2027, 11, 30), n) for n in ("England", "Wales", "Northern Ireland"))


def test_easter_monday_is_not_a_bank_holiday_in_scotland():
    assert not is_bank_holiday(date(2027, 3, 29), "Scotland")
    for nation in ("England", "Wales", "Northern Ireland"):
        assert holiday_name(date(2027, 3, 29), nation) == "Easter Monday"


def test_the_twelfth_of_july_is_a_bank_holiday_in_northern_ireland_only():
    assert holiday_name(date(2027, 7, 12), "Northern Ireland") == "Battle of the Boyne"
    assert not any(is_bank_holiday(date(2027, 7, 12), n) for n in ("England", "Wales", "Scotland"))


def test_scotland_has_the_second_of_january_and_its_summer_holiday_in_august():
    assert is_bank_holiday(date(2026, 1, 2), "Scotland") and not is_bank_holiday(date(2026, 1, 2), "England")
    assert holiday_name(date(2027, 8, 2), "Scotland") == "Summer bank holiday"
    assert holiday_name(date(2027, 8, 30), "England") == "Summer bank holiday"
    assert not is_bank_holiday(date(2027, 8, 30), "Scotland")


def test_names_are_the_ones_gov_uk_uses():
    assert holiday_name(date(2027, 5, 3), "England") == "Early May bank holiday"
    assert holiday_name(date(2027, 5, 31), "Wales") == "Spring bank holiday"
    assert holiday_name(date(2027, 12, 27), "England") == "Christmas Day (substitute day)"
    assert holiday_name(date(2027, 5, 4), "England") is None


def test_next_working_day_skips_weekends_and_bank_holidays():
    assert next_working_day(date(2027, 5, 3), "England") == date(2027, 5, 4)
    # Good Friday: the weekend, then Easter Monday, in England; Scotland works on the Monday.
    assert next_working_day(date(2027, 3, 26), "England") == date(2027, 3, 30)
    assert next_working_day(date(2027, 3, 26), "Scotland") == date(2027, 3, 29)
    # Christmas 2027 falls on a weekend: both substitute days follow.
    assert next_working_day(date(2027, 12, 24), "England") == date(2027, 12, 29)


def test_bank_holidays_between_lists_each_day_with_its_name():
    assert bank_holidays_between(date(2027, 3, 1), date(2027, 5, 3), "England") == [
        (date(2027, 3, 26), "Good Friday"), (date(2027, 3, 29), "Easter Monday"),
        (date(2027, 5, 3), "Early May bank holiday")]
    assert bank_holidays_between(date(2026, 12, 30), date(2027, 1, 4), "Scotland") == [
        (date(2027, 1, 1), "New Year's Day"), (date(2027, 1, 2), "New Year Holiday"),
        (date(2027, 1, 4), "New Year Holiday (substitute day)")]


@pytest.mark.parametrize("typed,nation", [("england", "England"), ("SCT", "Scotland"), ("wales", "Wales"),
                                          ("northern ireland", "Northern Ireland"),
                                          ("Northern-Ireland", "Northern Ireland"), ("NIR", "Northern Ireland")])
def test_a_nation_is_known_by_its_name_or_code(typed, nation):
    assert parse_nation(typed) == nation


def test_an_unknown_nation_names_the_choices_and_the_nearest():
    with pytest.raises(NationError) as problem:
        parse_nation("Scotlnd")
    assert str(problem.value) == ("'Scotlnd' is not a UK nation: use England, Wales, Scotland or Northern "
                                  "Ireland. Did you mean Scotland?")
    with pytest.raises(NationError, match="'Ireland' is not a UK nation"):
        parse_nation("Ireland")
