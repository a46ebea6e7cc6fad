"""95% intervals for the proportions edgekit shows: agreement, accuracy, and the accuracy drop
from the float model to a file, judged on the same images."""
from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def paired_difference_interval(both: int, only_first: int, only_second: int, neither: int,
                               z: float = 1.96) -> tuple[float, float]:
    """95% interval of p1 - p2 for two proportions measured on the same items (paired).

    Newcombe's hybrid score interval for paired data (Newcombe 1998, Stat Med 17:2635, method 10):
    Wilson intervals of both marginals, combined with the phi correlation of the pairs. Here p1 is
    the float model's accuracy and p2 the file's, on the same images: the counts are images both get
    right, only the float model, only the file, neither. Unlike the Wald interval (b - c) / n +- z*se
    it is not degenerate when the two never disagree (b = c = 0 still gives an interval of nonzero
    width) and stays within [-1, 1]; unlike two independent intervals it uses the pairing, so a file
    that errs on exactly the float model's images gets a narrow interval.
    """
    n = both + only_first + only_second + neither
    if n == 0:
        return (-1.0, 1.0)
    p1, p2 = (both + only_first) / n, (both + only_second) / n
    l1, u1 = wilson_interval(both + only_first, n, z)
    l2, u2 = wilson_interval(both + only_second, n, z)
    denom = (both + only_first) * (only_second + neither) * (both + only_second) * (only_first + neither)
    phi = (both * neither - only_first * only_second) / math.sqrt(denom) if denom > 0 else 0.0
    d = p1 - p2
    lower = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (float(max(-1.0, lower)), float(min(1.0, upper)))
