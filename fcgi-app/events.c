#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "keys.h"
#include "store.h"

/*
 * cw_append(stream, bytes_key, maxlen, maxbytes, type, data): XADD, then
 * drop the oldest entries while the stream holds more than maxlen entries
 * or more than maxbytes bytes of type + data. bytes_key counts the bytes
 * (an estimate for streams written before it existed: never negative).
 * Shared by every script that appends, so no writer can skip the caps.
 */
const char events_lua_append[EVENTS_LUA_APPEND_CAP] =
    "local function cw_append(k, bk, maxlen, maxbytes, typ, data) "
    "local id = redis.call('XADD', k, '*', 'type', typ, 'data', data) "
    "local b = redis.call('INCRBY', bk, #typ + #data) "
    "local n = redis.call('XLEN', k) "
    "local rounds = 0 "
    "while (n > maxlen or b > maxbytes) and n > 1 and rounds < 64 do "
    "rounds = rounds + 1 "
    "local old = redis.call('XRANGE', k, '-', '+', 'COUNT', 32) "
    "for _, e in ipairs(old) do "
    "if n <= 1 or (n <= maxlen and b <= maxbytes) then break end "
    "local f, sz = e[2], 0 "
    "for i = 1, #f - 1, 2 do "
    "if f[i] == 'type' or f[i] == 'data' then sz = sz + #f[i + 1] end end "
    "redis.call('XDEL', k, e[1]) n = n - 1 "
    "b = redis.call('DECRBY', bk, sz) "
    "if b < 0 then redis.call('SET', bk, 0) b = 0 end "
    "end end "
    "return id end ";

/*
 * A session that is gone (deleted: its record has no owner) takes no more
 * events, so a late writer never recreates its stream: the event is
 * dropped ("0-0") and the run stops at its next cancel check.
 */
/*
 * With a token (ARGV[6]; "" for none) the session's record keeps "evtok"
 * = "<token> <id>" of the newest such append. An append whose token is
 * that one returns its id and appends nothing: it is a retry of one that
 * ran but whose reply was lost (Redis restarted, the connection broke), and
 * the event is not made twice. The stream's entries stay (type, data).
 */
static const char append_body[] =
    "if ARGV[1] ~= '0' and redis.call('GET', KEYS[2]) ~= ARGV[1] then "
    "return false end "
    "if redis.call('HEXISTS', KEYS[4], 'owner') == 0 then return '0-0' end "
    "local tok = ARGV[6] "
    "if tok ~= '' then "
    "local last = redis.call('HGET', KEYS[4], 'evtok') "
    "if last and string.sub(last, 1, #tok + 1) == tok .. ' ' then "
    "return string.sub(last, #tok + 2) end end "
    "local id = cw_append(KEYS[1], KEYS[3], tonumber(ARGV[2]), "
    "tonumber(ARGV[5]), ARGV[3], ARGV[4]) "
    "if tok ~= '' then redis.call('HSET', KEYS[4], 'evtok', tok .. ' ' .. id) end "
    "return id";

void
events_keys(const char *sid, struct events_keys *k)
{
	snprintf(k->stream, sizeof(k->stream), CW_KP "events:%s", sid);
	snprintf(k->bytes, sizeof(k->bytes), CW_KP "evbytes:%s", sid);
}

int
events_append(struct store *s, const char *sid, long long fence,
    const struct config *cfg, const char *type, json_object *data,
    char *id_out)
{
	return events_append_tok(s, sid, fence, cfg, type, data, id_out, NULL);
}

int
events_append_tok(struct store *s, const char *sid, long long fence,
    const struct config *cfg, const char *type, json_object *data,
    char *id_out, const char *tok)
{
	struct events_keys	 k;
	redisReply		*r;
	char			 script[sizeof(events_lua_append) + sizeof(append_body)];
	char			 fkey[96], skey[96], f[32], ml[32], mb[32];
	const char		*js, *argv[16];
	size_t			 lens[16];
	int			 argc = 0, i, rc;

	events_keys(sid, &k);
	snprintf(fkey, sizeof(fkey), CW_KP "fence:%s", sid);
	snprintf(skey, sizeof(skey), CW_KP "session:%s", sid);
	snprintf(f, sizeof(f), "%lld", fence);
	snprintf(ml, sizeof(ml), "%lld", cfg->events_maxlen);
	snprintf(mb, sizeof(mb), "%lld", cfg->events_max_bytes);
	snprintf(script, sizeof(script), "%s%s", events_lua_append, append_body);
	js = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = "4";
	argv[argc++] = k.stream;
	argv[argc++] = fkey;
	argv[argc++] = k.bytes;
	argv[argc++] = skey;
	argv[argc++] = f;
	argv[argc++] = ml;
	argv[argc++] = type;
	argv[argc++] = js;
	argv[argc++] = mb;
	argv[argc++] = tok != NULL ? tok : "";
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if ((r = store_cmd(s, argc, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		if (id_out != NULL)
			snprintf(id_out, EVENTS_ID_MAX, "%s", r->str);
		rc = 0;
	} else
		rc = r->type == REDIS_REPLY_NIL ? 1 : -1;
	freeReplyObject(r);
	return rc;
}

int
events_last_id(struct store *s, const char *sid, char *out, size_t cap)
{
	redisReply	*r;
	char		 key[96];

	snprintf(key, sizeof(key), CW_KP "events:%s", sid);
	if ((r = store_cmdv(s, "XREVRANGE", key, "+", "-", "COUNT", "1", NULL)) == NULL)
		return -1;
	snprintf(out, cap, "0-0");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements >= 1 && r->element[0]->element[0]->str)
		snprintf(out, cap, "%s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	return 0;
}

int
events_valid_id(const char *s)
{
	unsigned long long	 v;
	unsigned		 d;
	int			 half, digits;

	/*
	 * Exactly "<ms>-<seq>", each a run of decimal digits whose value fits in
	 * 64 bits (what Redis accepts as a stream id): no sign, no space, no
	 * out-of-range value that strtoull would clamp (ERANGE).
	 */
	for (half = 0; half < 2; half++) {
		v = 0;
		for (digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
			d = (unsigned)(*s - '0');
			if (v > (18446744073709551615ULL - d) / 10)
				return 0;
			v = v * 10 + d;
		}
		if (digits == 0 || *s != (half == 0 ? '-' : '\0'))
			return 0;
		s++;
	}
	return 1;
}

void
events_id_before(const char *s, char *out, size_t cap)
{
	unsigned long long	 ms, seq;
	char			*end;

	ms = strtoull(s, &end, 10);
	seq = strtoull(end + 1, NULL, 10);
	if (seq > 0)
		snprintf(out, cap, "%llu-%llu", ms, seq - 1);
	else if (ms > 0)
		snprintf(out, cap, "%llu-18446744073709551615", ms - 1);
	else
		snprintf(out, cap, "0-0");
}
