#!/usr/bin/env bash
# t_batch.sh: issue 14, an api worker's batches. A worker that finds several
# GET /api/sessions waiting on its kept connections sends their
# authentication and page reads to Redis in one pipeline (worker.c,
# auth_prefetch). Replies must still reach their own request:
#   1. Many kept-alive clients at once, each request of another caller
#      (users with different lists, a page cursor, a cookie, a revoked, a
#      disabled, a rate-limited, a forged and a missing token, a bad limit,
#      and requests that end a batch: /api/live, a single session): every
#      answer is exactly that caller's, and batches were formed
#      (claude_web_api_batched_requests_total rose).
#   2. Each batched request counts once against its user's rate limit.
#   3. Redis restarted under that load: every answer is the caller's own or
#      a JSON 503 with nothing of a list; afterwards all are right again.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib_auth.sh
. "$(dirname "$0")/lib_auth.sh"
cw_require_tools jq python3
cw_require_admin

CW_CONF[RATE_LIMIT_PER_MINUTE]=1000000
CW_CONF[API_WORKERS]=2
cw_start_all || cw_bail "could not start redis + claude-web + nginx"
CLIENT=$(dirname "$0")/batch_client.py

create() { # create TOKEN TITLE: a session; its id in SID
	api_bearer "$1" /api/sessions -X POST -H 'Content-Type: application/json' \
		--data-binary "$(jq -nc --arg t "$2" '{title: $t}')"
	SID=$(json '.id // empty')
	[ "$HTTP_STATUS" = 201 ] && [ -n "$SID" ]
}

# Users a1..a4 with 1..4 sessions each ("aK-J"), and the refused ones.
declare -A TOK
for k in 1 2 3 4; do
	user_add "a$k" "password-a$k" || cw_bail "user add a$k"
	login "a$k" "password-a$k" || cw_bail "a$k cannot log in"
	TOK[a$k]=$TOKEN
	for ((j = 1; j <= k; j++)); do
		create "$TOKEN" "a$k-$j" || cw_bail "a$k: cannot create a session"
	done
done
ONE_SID=$SID # a4-4
for u in rev dis lim cnt; do
	user_add "$u" "password-$u" || cw_bail "user add $u"
	login "$u" "password-$u" || cw_bail "$u cannot log in"
	TOK[$u]=$TOKEN
done
create "${TOK[lim]}" "lim-1" || cw_bail "lim: cannot create a session"
create "${TOK[cnt]}" "cnt-1" || cw_bail "cnt: cannot create a session"
api_bearer "${TOK[rev]}" /api/auth/logout -X POST
[ "$HTTP_STATUS" = 204 ] || cw_bail "rev cannot log out"
cw_admin user disable dis || cw_bail "cannot disable dis"
redis_cli SET 'cw:{c}:rl:api:lim' 1000000000 EX 3600 >/dev/null
FORGED=$(jwt_forge '{"alg":"HS256","typ":"JWT"}' \
	"{\"sub\":\"a1\",\"jti\":\"x\",\"exp\":$(($(date +%s) + 600))}" 'not-the-key')

titles() { # titles K [N]: aK's newest N titles, newest first, as JSON
	local k=$1 n=${2:-$1} j out=()
	for ((j = k; j > k - n; j--)); do out+=("a$k-$j"); done
	printf '%s\n' "${out[@]}" | jq -R . | jq -sc .
}
bearer() { jq -nc --arg t "$1" '{Authorization: ("Bearer " + $t)}'; }
{
	echo '['
	for k in 1 2 3 4; do
		printf '{"name":"a%s","path":"/api/sessions","headers":%s,"status":200,"titles":%s,"next":false},\n' \
			"$k" "$(bearer "${TOK[a$k]}")" "$(titles "$k")"
	done
	printf '{"name":"a3-page","path":"/api/sessions?limit=1","headers":%s,"status":200,"titles":%s,"next":true},\n' \
		"$(bearer "${TOK[a3]}")" "$(titles 3 1)"
	printf '{"name":"a2-cookie","path":"/api/sessions","headers":%s,"status":200,"titles":%s,"next":false},\n' \
		"$(jq -nc --arg t "${TOK[a2]}" '{Cookie: ("cw_token=" + $t)}')" "$(titles 2)"
	printf '{"name":"rev","path":"/api/sessions","headers":%s,"status":401,"message":"invalid token: revoked"},\n' \
		"$(bearer "${TOK[rev]}")"
	printf '{"name":"dis","path":"/api/sessions","headers":%s,"status":401,"message":"invalid token"},\n' \
		"$(bearer "${TOK[dis]}")"
	printf '{"name":"lim","path":"/api/sessions","headers":%s,"status":429,"message":"rate limit"},\n' \
		"$(bearer "${TOK[lim]}")"
	printf '{"name":"forged","path":"/api/sessions","headers":%s,"status":401,"message":"invalid token"},\n' \
		"$(bearer "$FORGED")"
	printf '{"name":"none","path":"/api/sessions","headers":{},"status":401,"message":""},\n'
	printf '{"name":"a1-badlimit","path":"/api/sessions?limit=0","headers":%s,"status":400,"message":""},\n' \
		"$(bearer "${TOK[a1]}")"
	printf '{"name":"a1-all","path":"/api/sessions?all=1","headers":%s,"status":403,"message":""},\n' \
		"$(bearer "${TOK[a1]}")"
	printf '{"name":"live","path":"/api/live","headers":{},"status":200},\n'
	printf '{"name":"one","path":"/api/sessions/%s","headers":%s,"status":200,"title":"a4-4"}\n' \
		"$ONE_SID" "$(bearer "${TOK[a4]}")"
	echo ']'
} >"$T/cases.json"
jq -e 'length == 15' "$T/cases.json" >/dev/null || cw_bail "cases.json: $(head -c 300 "$T/cases.json")"

batched() { metrics_fetch >/dev/null; metric claude_web_api_batched_requests_total; }

# ---- 1. every answer is its own caller's, in batches ----------------------------------
b0=$(batched)
wrong=0 sent=0 rounds=0
# Batches form whenever requests meet in a worker; on an idle 2-core
# machine the first load nearly always does it. Up to 5 loads until one did.
while [ "$rounds" -lt 5 ]; do
	rounds=$((rounds + 1))
	python3 "$CLIENT" "$BASE_URL" "$T/cases.json" 24 8 >"$T/res.json" ||
		cw_bail "batch_client failed: $(cat "$T/res.json")"
	wrong=$((wrong + $(jq .nwrong "$T/res.json")))
	sent=$((sent + $(jq .sent "$T/res.json")))
	[ "$(jq .nwrong "$T/res.json")" = 0 ] || diag "mismatches: $(jq -c .wrong "$T/res.json")"
	[ "$(batched)" -gt "$b0" ] && break
done
is "$wrong" 0 "$sent requests of 15 kinds from 24 kept-alive clients at once: every answer is its caller's"
b1=$(batched)
cmp_ok "$b1" -gt "$b0" "the api workers batched list requests meanwhile ($((b1 - b0)) of them)"

# ---- 2. a batched request counts once --------------------------------------------------
redis_cli DEL 'cw:{c}:rl:api:cnt' >/dev/null
jq -c --arg t "${TOK[cnt]}" '[{name: "cnt", path: "/api/sessions",
	headers: {Authorization: ("Bearer " + $t)}, status: 200, titles: ["cnt-1"], next: false}]
	+ [.[] | select(.name == "a1" or .name == "a2" or .name == "live")]' \
	"$T/cases.json" >"$T/cnt.json"
c0=$(batched)
python3 "$CLIENT" "$BASE_URL" "$T/cnt.json" 16 25 >"$T/res.json" || cw_bail "batch_client failed"
ncnt=$(jq '.per_case.cnt' "$T/res.json")
is "$(jq .nwrong "$T/res.json")/$(redis_cli GET 'cw:{c}:rl:api:cnt')" "0/$ncnt" \
	"$ncnt list requests of one user in batches: the rate limit counted each once"
diag "batched meanwhile: $(($(batched) - c0))"

# ---- 3. Redis restarted under load -----------------------------------------------------
rm -f "$T/stop"
python3 "$CLIENT" "$BASE_URL" "$T/cases.json" 16 100000 --tolerate-503 --until "$T/stop" \
	>"$T/res3.json" &
cpid=$!
more_batches() { # more_batches N: the batched count passed N
	[ "$(batched)" -gt "$1" ]
}
b2=$(batched)
wait_for 30 more_batches "$b2" || diag "no batch before the restart"
redis_cli SAVE >/dev/null
cw_stop_redis TERM
cw_start_redis || cw_bail "could not restart redis"
b3=$(batched)
check "the clients were at it across the restart, and batches formed again after it" \
	wait_for 30 eval "kill -0 $cpid 2>/dev/null && more_batches $b3"
touch "$T/stop"
wait "$cpid" || cw_bail "batch_client failed: $(cat "$T/res3.json")"
diag "during the restart: $(jq -c '{sent, ok, "503"}' "$T/res3.json")"
is "$(jq .nwrong "$T/res3.json")" 0 \
	"Redis restarted under load: every answer is the caller's own or a JSON 503 without a list"
python3 "$CLIENT" "$BASE_URL" "$T/cases.json" 16 2 >"$T/res.json" || cw_bail "batch_client failed"
is "$(jq .nwrong "$T/res.json")" 0 "after the restart every answer is right again"

tap_done
