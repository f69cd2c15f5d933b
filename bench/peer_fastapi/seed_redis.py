"""Seed the peer's users and sessions.

  seed_redis.py REDIS_URL PASSWORD USER:N [USER:N ...]

Each USER gets the password PASSWORD (scrypt, as app.py checks it) and N
sessions (hashes peer:session:<id> and the index peer:user:<user>:sessions,
newest first by score). Extended for bench/compare.sh from the designers'
seed (../shared/bench/peer_fastapi/seed_redis.py: user admin, 20 sessions):
same keys and fields, any number of users and sessions, written with one
pipeline per user.
"""
import hashlib
import os
import sys
import time

import redis


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    r = redis.from_url(sys.argv[1])
    pw = sys.argv[2]
    total = 0
    for spec in sys.argv[3:]:
        user, _, n = spec.partition(":")
        n = int(n or 20)
        salt = os.urandom(16)
        h = hashlib.scrypt(pw.encode(), salt=salt, n=1 << 15, r=8, p=1, maxmem=64 << 20)
        p = r.pipeline(transaction=False)
        p.hset(f"peer:user:{user}", mapping={"salt": salt.hex(), "hash": h.hex(), "role": "user"})
        now = time.time()
        for i in range(n):
            sid = os.urandom(16).hex()
            p.hset(f"peer:session:{sid}", mapping={
                "id": sid, "owner": user, "title": f"bench session {i + 1}", "status": "idle",
                "model": "claude-opus-4-5", "created_at": str(now), "updated_at": str(now)})
            p.zadd(f"peer:user:{user}:sessions", {sid: now + i})
        p.execute()
        total += n
    print("seeded %d users, %d sessions" % (len(sys.argv) - 3, total))


if __name__ == "__main__":
    main()
