"""Short completions in the cognitive-behaviours paper's Countdown style, and in metacot's own formats, with the four
behaviours counted by hand.

How they were counted (one instance = one distinct act, not one matching phrase):
- verification: each explicit check of a result against the target or a condition ("56 is not 24", "which is too
  small", "Let me check: ... Correct!" is one); computing a result that happens to be the target is not;
- backtracking: each time the reasoning abandons a path and starts one that does not build on its result (an
  announcement and the go-back that follows it are one);
- subgoal setting: each stated intermediate goal ("first get 4", "I need to make 8 so that 6 * 8 = 48"), not
  reaching the target itself (getting close to it is one);
- backward chaining: each derivation from the target of what is needed ("24 / 8 = 3, so I need 3"); a need derived
  that way counts here, not as a subgoal, but a goal derived that way and stated as one counts as both ("First I
  will try to get 10 from 4 and 6, since 10 * 5 = 50"; issue 29: "The target 91 is 7 * 13, so the goal is to form
  13"). "Let's work backwards from 24" and the derivation right after it are one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fixture:
    target: int
    nums: tuple[int, ...]
    completion: str
    verification: int
    backtracking: int
    subgoal_setting: int
    backward_chaining: int

    def counts(self) -> dict[str, int]:
        return {
            "verification": self.verification,
            "backtracking": self.backtracking,
            "subgoal_setting": self.subgoal_setting,
            "backward_chaining": self.backward_chaining,
        }


def think(text: str) -> str:
    return f"<think>\n{text}\n</think>"


PAPER_STYLE = [
    Fixture(
        24,
        (3, 5, 7, 2),
        think(
            "Let me try 3 + 5 = 8, then 8 * 7 = 56. 56 is not 24.\nLet me try a different combination. 3 * 7 = 21, "
            "21 + 5 = 26, 26 - 2 = 24. 24 equals the target, correct."
        )
        + "\n<answer> 3 * 7 + 5 - 2 </answer>",
        2,
        1,
        0,
        0,
    ),
    Fixture(
        47,
        (42, 61, 66),
        think(
            "To reach 47, I could do 61 - 14, so I need 14 from 42 and 66. 66 - 42 = 24, not 14. That doesn't work, "
            "let me go back. 42 + 66 = 108, and 108 - 61 = 47. That matches the target."
        ),
        2,
        1,
        0,
        1,
    ),
    Fixture(
        50,
        (5, 4, 6),
        think(
            "First I will try to get 10 from 4 and 6, since 10 * 5 = 50. 4 + 6 = 10. "
            "Then 10 * 5 = 50, which is the target."
        ),
        1,
        0,
        1,
        1,
    ),
    Fixture(
        24,
        (8, 3, 1),
        think(
            "Let's work backwards from 24. 24 / 8 = 3, so I need 3 from 3 and 1. 3 * 1 = 3. "
            "Let me verify: 8 * (3 * 1) = 24, correct."
        ),
        1,
        0,
        0,
        1,
    ),
    Fixture(
        22,
        (25, 1, 2),
        think(
            "25 - 2 = 23, then 23 * 1 = 23, which is not equal to 22. Let me try another sequence. 25 + 1 = 26, "
            "26 - 2 = 24. Since 24 is not equal to 22, this fails too. Let's try a different approach: 25 - 1 = 24, "
            "24 - 2 = 22. This equals 22, so it works."
        ),
        3,
        2,
        0,
        0,
    ),
    Fixture(
        60,
        (3, 4, 5),
        think("I need to make 12 first, because 12 * 5 = 60. 3 * 4 = 12. Now 12 * 5 = 60. 60 = 60, the target."),
        1,
        0,
        1,
        1,
    ),
    Fixture(
        100,
        (20, 5, 3, 2),
        think(
            "If I can get 5 from the small numbers, then 20 * 5 = 100. 3 + 2 = 5. But then the original 5 is left "
            "over, so that does not work. Let me go back. 20 * 5 = 100, so I need the 3 and 2 to make 1. "
            "3 - 2 = 1, and 100 * 1 = 100. That is the target."
        ),
        2,
        1,
        2,
        0,
    ),
    Fixture(
        19,
        (7, 3, 2),
        think(
            "7 + 3 = 10, 10 * 2 = 20. Hmm, 20 is one more than 19. Let me try again with subtraction: 7 * 3 = 21, "
            "21 - 2 = 19. Yes, 19 is the target."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        36,
        (9, 2, 2),
        think(
            "The target is 36 and 36 / 9 = 4, so I need 4 from 2 and 2. 2 + 2 = 4, and 9 * 4 = 36. "
            "Let me check: 9 * (2 + 2) = 36. Correct!"
        ),
        1,
        0,
        0,
        1,
    ),
    Fixture(
        15,
        (8, 5, 2),
        think(
            "Let me start with multiplication: 8 * 5 = 40, 40 - 2 = 38. That's too big. Maybe 8 * 2 = 16, "
            "16 - 5 = 11, which is too small. What about just adding them: 8 + 5 + 2 = 15. That's exactly 15!"
        ),
        3,
        2,
        0,
        0,
    ),
    Fixture(21, (3, 7), think("3 * 7 = 21.") + "\n<answer> 3 * 7 </answer>", 0, 0, 0, 0),
    Fixture(30, (12, 9, 9), think("I'll add the numbers. 12 + 9 = 21. 21 + 9 = 30."), 0, 0, 0, 0),
    Fixture(
        98,
        (50, 45, 3),
        think(
            "First, let's try to get close to 98. 50 + 45 = 95, which is 3 short of 98. Adding the 3 gives "
            "95 + 3 = 98, which matches the target."
        ),
        2,
        0,
        1,
        0,
    ),
    Fixture(
        40,
        (10, 4, 6, 6),
        think(
            "10 * 6 = 60, 60 - 6 = 54, 54 - 4 = 50. 50 is not 40. Alternatively, 10 * 4 = 40, and 6 / 6 = 1, so "
            "40 * 1 = 40. This reaches the target of 40."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        24,
        (6, 2, 2),
        think(
            "To get 24, we need 6 * 4, so the two 2s must make 4. 2 + 2 = 4. Then 6 * 4 = 24. "
            "The result is 24, as required."
        ),
        1,
        0,
        0,
        1,
    ),
    Fixture(
        85,
        (40, 30, 12),
        think(
            "40 + 30 = 70, 70 + 12 = 82. 82 is not 85. Let me try something else. 40 * 2 ... I don't have a 2. "
            "30 * 12 = 360, 360 / 40 = 9, not 85. I cannot find it, so I will give my closest: 40 + 30 + 12."
        ),
        2,
        2,
        0,
        0,
    ),
    Fixture(
        17,
        (4, 4, 1),
        think(
            "4 * 4 = 16 and 16 + 1 = 17. Let me double-check that every number is used once: 4, 4 and 1, yes. "
            "The total is 17, the target."
        ),
        2,
        0,
        0,
        0,
    ),
    Fixture(
        48,
        (6, 2, 4),
        think("I need to make 8 from 2 and 4 so that 6 * 8 = 48. 2 * 4 = 8. 6 * 8 = 48, which equals the target."),
        1,
        0,
        1,
        0,
    ),
    Fixture(
        13,
        (9, 6, 2),
        think(
            "9 * 2 = 18, 18 - 6 = 12. Close, but 12 is not 13. Let me start over. 9 + 6 = 15, 15 - 2 = 13. "
            "Got it: 13 is the target."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        26,
        (5, 5, 1),
        think(
            "5 + 5 = 10, 10 + 1 = 11. This doesn't work, it is far below 26. Instead, let's multiply: 5 * 5 = 25, "
            "25 + 1 = 26, which is exactly the target."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        72,
        (8, 3, 3),
        think(
            "Working backwards: 72 / 8 = 9, so I need 9 from 3 and 3. My subgoal is to make 9. 3 * 3 = 9, and "
            "8 * 9 = 72, which is the target."
        ),
        1,
        0,
        1,
        1,
    ),
    Fixture(
        100,
        (25, 2, 2),
        think(
            "First get 4 from the two 2s. 2 + 2 = 4. Then get to 100 by multiplying by 25. 25 * 4 = 100. "
            "Let me verify: 25 * (2 + 2) = 100. Correct."
        ),
        1,
        0,
        1,
        0,
    ),
    Fixture(
        64,
        (32, 2, 3, 1),
        think(
            "32 * 2 = 64, but then 3 and 1 are left, and 3 - 1 = 2, 64 * 2 = 128, not 64. That doesn't work. "
            "Let me try a different combination: 32 + 3 = 35, 35 * 2 = 70, 70 - 1 = 69, not 64 either. "
            "Let me go back to the start. 32 / 2 = 16 and 3 + 1 = 4, so 16 * 4 = 64. That is the target."
        ),
        3,
        2,
        0,
        0,
    ),
    Fixture(30, (7, 4, 2), think("7 * 4 = 28, 28 + 2 = 30. That equals 30, which is the target."), 1, 0, 0, 0),
    Fixture(
        11,
        (6, 3, 2),
        think(
            "6 * 2 = 12, 12 - 3 = 9. Wait, 9 is less than 11, so this does not reach the target. Let me try adding "
            "all three: 6 + 3 + 2 = 11. Let me verify the sum: 6 + 3 = 9 and 9 + 2 = 11, yes, it is 11."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(50, (4, 6, 5), think("I'll check the combinations one at a time. 4 + 6 = 10. 10 * 5 = 50."), 0, 0, 0, 0),
]

# metacot's own formats, counted as its structure says: a verdict or a caught mistake is a verification, a move
# back to an earlier state a backtrack (the sentences around a backtrack are that one backtrack).
METACOT_STYLE = [
    Fixture(
        14,
        (38, 24, 25, 24),
        think(
            "38 - 24 = 14. Now I have [25, 24, 14].\n"
            "Let me also try a different branch. Going back to [38, 24, 25, 24].\n"
            "38 - 25 = 13. Now I have [24, 24, 13].\n"
            "Before going deeper, let me check another possibility. Going back to [38, 24, 25, 24].\n"
            "24 / 24 = 1. Now I have [38, 25, 1].\n"
            "Let me also try a different branch. Let me return to [25, 24, 14] and try a different step.\n"
            "25 + 14 = 39. Now I have [24, 39].\n"
            "Every step I tried from [24, 39] failed to reach 14. Let me return to [38, 25, 1] and try a different "
            "step.\n38 + 1 = 39. Now I have [25, 39].\n39 - 25 = 14. 14 = 14, the target."
        )
        + "\n<answer> (38 + (24 / 24)) - 25 </answer>",
        1,
        4,
        0,
        0,
    ),
    Fixture(
        31,
        (12, 5, 3),
        think(
            "12 + 5 = 18. Wait, that's wrong: 12 + 5 is 17, not 18.\n"
            "Let me go back to [12, 5, 3] and try something else.\n"
            "12 * 3 = 36. Now I have [5, 36].\n36 + 5 = 41. 41 is not 31.\n"
            "None of the steps I tried from [5, 36] reach 31. Let me return to [12, 5, 3] and try a different step.\n"
            "12 - 5 = 7. Now I have [3, 7].\n7 * 3 = 21. 21 is not 31.\n"
            "This looks unlikely (value 0.10); another option looks better (0.55). Going back to [12, 5, 3].\n"
            "5 * 3 = 15. Now I have [12, 15].\n12 + 15 = 27. 27 is not 31."
        ),
        4,
        3,
        0,
        0,
    ),
    Fixture(
        31,
        (12, 5, 3),
        think("12 * 3 = 36. Now I have [5, 36].\n36 - 5 = 31. 31 = 31, the target.")
        + "\n<answer> 12 * 3 - 5 </answer>",
        1,
        0,
        0,
        0,
    ),
    Fixture(
        97,
        (55, 5, 39, 43),
        think(
            "<step> 55 - 43 = 12\n<value> 1.00\n<backtrack to=0 reason=exploration> [55, 5, 39, 43]\n"
            "<step> 55 / 5 = 11\n<value> 1.00\n<backtrack to=0.0 reason=exploration> [5, 39, 12]\n"
            "<step> 5 + 39 = 44\n<value> 0.00\n<backtrack to=0.17 reason=exhausted> [39, 43, 11]\n"
            "<step> 39 + 11 = 50\n<verify> 50 is not 97.\n<value> 0.00\n"
            "<backtrack to=0.19 reason=exhausted> [5, 39, 98]\n"
            "<step> 195 - 98 = 97\n<verify> 97 = 97, the target.\n<value> 1.00"
        ),
        2,
        4,
        0,
        0,
    ),
    Fixture(
        31,
        (12, 5, 3),
        think(
            "Current State: 31:[12, 5, 3], Operations: []\n"
            "Exploring Operation: 12+5=17, Resulting Numbers: [3, 17]\n"
            "Generated Node #0,0: 31:[3, 17] Operation: 12+5=17\n"
            "Exploring Operation: 12*3=36, Resulting Numbers: [5, 36]\n"
            "Generated Node #0,1: 31:[5, 36] Operation: 12*3=36\n"
            "Moving to Node #0,0\n"
            "Current State: 31:[3, 17], Operations: ['12+5=17']\n"
            "Exploring Operation: 17+3=20, Resulting Numbers: [20]\n20,31 unequal: No Solution\n"
            "Exploring Operation: 17*3=51, Resulting Numbers: [51]\n51,31 unequal: No Solution\n"
            "Moving to Node #0,1\n"
            "Current State: 31:[5, 36], Operations: ['12*3=36']\n"
            "Exploring Operation: 36-5=31, Resulting Numbers: [31]\n31,31 equal: Goal Reached"
        ),
        3,
        1,
        0,
        0,
    ),
]

FIXTURES = PAPER_STYLE + METACOT_STYLE

# Written after the heuristic's patterns, in other phrasings, and never used to tune them: its agreement here is the
# fairer estimate of how it does on foreign text.
HELD_OUT = [
    Fixture(
        36,
        (4, 9, 1),
        think(
            "Hmm, 4 + 9 = 13 and 13 + 1 = 14. Way off from 36. Scrap that; 4 * 9 = 36 and 36 * 1 = 36. "
            "Double checking: 4 * 9 * 1 = 36. Yes!"
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        45,
        (9, 5, 3),
        think(
            "Since 45 = 9 * 5, I must make the 3 disappear somehow. Trying 9 * 5 + 3 = 48, too high. How about "
            "(9 - 3) * 5 = 30, also not 45. I will try 9 * (5 - 3) = 18. No."
        ),
        3,
        2,
        0,
        1,
    ),
    Fixture(
        62,
        (50, 6, 2),
        think(
            "Start from 62: 62 - 50 = 12, so the remaining 6 and 2 have to give 12. 6 * 2 = 12. "
            "So 50 + 6 * 2 = 62, which checks out."
        ),
        1,
        0,
        0,
        1,
    ),
    Fixture(
        20,
        (2, 8, 3, 2),
        think(
            "My plan: get 10, then double it. 8 + 2 = 10. Now 10 * 2 = 20, but 3 is unused, so this is invalid. "
            "Back to the drawing board. 8 * 2 = 16, 16 + 3 = 19, 19 + ... I'm out of numbers except 2, "
            "19 + 2 = 21. 21 ≠ 20. OK so 3 * 8 = 24, 24 - 2 - 2 = 20. 20 = 20."
        ),
        3,
        2,
        1,
        0,
    ),
    Fixture(10, (5, 5), think("5 + 5 = 10."), 0, 0, 0, 0),
    Fixture(
        27,
        (3, 3, 3),
        think(
            "We want 27, which is 3 cubed. So the aim is 9 first: 3 * 3 = 9. Then 9 * 3 = 27. Done, that is our target."
        ),
        1,
        0,
        1,
        1,
    ),
    Fixture(
        33,
        (11, 2, 1),
        think(
            "Let me see whether 11 * 2 + 1 works: 22 + 1 = 23, not 33. Hmm, that fails. What if 11 * (2 + 1)? "
            "That's 11 * 3 = 33, the target exactly."
        ),
        2,
        1,
        0,
        0,
    ),
    Fixture(
        18,
        (6, 4, 2, 1),
        think(
            "Alright. I need 18. 6 * 4 = 24 is more than 18 by 6. Could I subtract 6 with 2 and 1? 2 + 1 = 3, no. "
            "Different idea: 6 * (4 - 1) = 18, and the 2? Unused. Another try: 6 * 2 = 12, 12 + 4 + 1 = 17, close. "
            "Finally 6 * (2 + 1) = 18 and 4 is left. I give up."
        ),
        5,
        3,
        1,
        0,
    ),
    Fixture(7, (14, 2), think("14 / 2 = 7. Let me confirm: 7 is the target, so the answer is 14 / 2."), 1, 0, 0, 0),
    Fixture(
        16,
        (4, 4, 8),
        think(
            "Okay, so I have 4, 4 and 8 and need 16. Maybe 8 + 4 + 4 = 16. Wait, let me make sure: 8 + 4 = 12, "
            "12 + 4 = 16. Yep, 16."
        ),
        1,
        0,
        0,
        0,
    ),
]
