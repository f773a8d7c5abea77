"""The seed's six users, as test data shared by several test modules."""

from datetime import datetime

# The seed's six users: (user_id, name, failed, total).
SEED_USERS = [
    (1, "Anushka", 4, 8),
    (2, "Jahanvi", 1, 3),
    (3, "Akhilesh", 11, 42),
    (4, "Adit Lal", 4, 16),
    (5, "Ayush", 28, 148),
    (6, "Vishnu Vardhan", 34, 124),
]
# The per-user table's order for the seed: failure rate, then failures, descending.
SEED_ORDER = ["Anushka", "Jahanvi", "Vishnu Vardhan", "Akhilesh", "Adit Lal", "Ayush"]
# The seed's window in UTC: 21-22 May 2025 in Asia/Kolkata.
SEED_DB_START = datetime(2025, 5, 20, 18, 30)
SEED_DB_END = datetime(2025, 5, 22, 18, 30)


def seed_calls(users=SEED_USERS, start=SEED_DB_START, end=SEED_DB_END):
    """Return calllog rows for ``users``, spread evenly over ``[start, end)``."""
    total = sum(t for *_, t in users)
    step = (end - start) / total
    rows, n = [], 0
    for user_id, _name, failed, count in users:
        for i in range(count):
            sid = None if i < failed else f"CA{n:06d}"
            rows.append(
                {
                    "session_id": f"s{n}",
                    "user_id": user_id,
                    "exotel_call_sid": sid,
                    "created_on": start + step * n,
                }
            )
            n += 1
    return rows
