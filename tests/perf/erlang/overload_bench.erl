%% overload_bench: the Erlang/OTP reference of warden_overload_bench (issue 5): a
%% gen_server that busy-spins ServiceUs (1 ms: capacity 1000 calls/s) per call, under an
%% open-loop load of Level x capacity for DurationS seconds. Every 1 ms the pacer spawns
%% the callers due; each does gen_server:call(Server, work, 1000) under catch (a timeout
%% is counted, never retried). There is no admission control: the server's mailbox is
%% unbounded, as in the raw CAF case.
%%
%%   [WARDEN_BENCH_RUN=K] erl -noshell -run overload_bench main Level DurationS \
%%       [ServiceUs] [CapMiB]
%%
%% Prints one JSON line (workload "overload", impl "erlang", the same fields as the C++
%% side; "run" is K from WARDEN_BENCH_RUN, default 1: run.sh runs every level N times and
%% the report takes the medians); peak memory is erlang:memory(total) sampled every
%% 100 ms, minus its value before the load. One level per VM (run.sh starts a fresh `erl`
%% for each), so levels do not share a heap. The level stops early when memory grew past
%% CapMiB (2048).
-module(overload_bench).
-behaviour(gen_server).

-export([main/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CALL_TIMEOUT_MS, 1000).

main([LevelS, DurS | Rest]) ->
    Level = list_to_integer(LevelS),
    Dur = to_number(DurS),
    ServiceUs = case Rest of [S | _] -> list_to_integer(S); [] -> 1000 end,
    CapMiB = case Rest of [_, C | _] -> to_number(C); _ -> 2048 end,
    Run = list_to_integer(os:getenv("WARDEN_BENCH_RUN", "1")),
    Capacity = 1000000 / ServiceUs,
    Rate = Capacity * Level,
    {ok, Srv} = gen_server:start(?MODULE, ServiceUs, []),
    Coll = spawn(fun() -> collect(true, 0, 0, 0, 0, []) end),
    Base = erlang:memory(total),
    Self = self(),
    Start = now_us(),
    Sampler = spawn(fun() -> sample(Self, Start, Dur, Base, CapMiB, Base, none, Base) end),
    {Sent, SendS, CappedAt} = pace(Srv, Coll, Rate, Dur, Start, 0),
    Coll ! stopped,
    wait_answers(Coll, Sent, now_us() + (?CALL_TIMEOUT_MS + 2000) * 1000),
    Sampler ! {stop, Self},
    {Peak, Mid, End} = receive {memory, P, M, E} -> {P, M, E} end,
    Coll ! {report, Self},
    {Ok, OkSending, Timeouts, Other, Lats} =
        receive {report, O, OS, T, X, L} -> {O, OS, T, X, L} end,
    Sorted = lists:sort(Lats),
    MiB = fun(B) -> max(0, B - Base) / (1024 * 1024) end,
    Fields = [{"workload", str("overload")}, {"impl", str("erlang")}, {"level", Level},
              {"duration_s", float(Dur)}, {"send_s", SendS}, {"capacity_per_s", Capacity},
              {"service_us", ServiceUs}, {"call_timeout_ms", ?CALL_TIMEOUT_MS},
              {"offered_per_s", Sent / SendS}, {"sent", Sent}, {"ok", Ok},
              {"rejected", 0}, {"queue_timeout", 0}, {"timeout", Timeouts},
              {"other", Other}, {"unanswered", Sent - Ok - Timeouts - Other},
              {"goodput_per_s", OkSending / SendS},
              {"ok_p50_ms", pct(Sorted, 0.5)}, {"ok_p99_ms", pct(Sorted, 0.99)},
              {"rej_p50_ms", 0.0}, {"rej_p99_ms", 0.0},
              {"start_mib", Base / (1024 * 1024)}, {"peak_mib", MiB(Peak)},
              {"mid_mib", MiB(Mid)}, {"end_mib", MiB(End)}, {"capped_at_s", CappedAt},
              {"otp_release", str(erlang:system_info(otp_release))},
              {"schedulers", erlang:system_info(schedulers_online)}, {"run", Run}],
    io:format("~s~n", [json(Fields)]),
    halt(0).

%% --- the service ---------------------------------------------------------------------------

init(ServiceUs) -> {ok, ServiceUs}.

handle_call(work, _From, ServiceUs) ->
    spin(now_us() + ServiceUs),
    {reply, done, ServiceUs}.

handle_cast(_, S) -> {noreply, S}.
handle_info(_, S) -> {noreply, S}.

spin(Until) ->
    case now_us() < Until of
        true -> spin(Until);
        false -> ok
    end.

%% --- load ----------------------------------------------------------------------------------

%% Every 1 ms: spawn the callers due at Rate since Start (open loop: answers do not matter).
pace(Srv, Coll, Rate, Dur, Start, Sent) ->
    Elapsed = (now_us() - Start) / 1.0e6,
    Until = min(Elapsed, Dur),
    Due = trunc(Rate * Until),
    spawn_callers(Srv, Coll, Due - Sent),
    Capped = receive cap -> true after 0 -> false end,
    if
        Capped -> {Due, Until, Elapsed};
        Elapsed >= Dur -> {Due, Until, -1.0};
        true ->
            receive after 1 -> ok end,
            pace(Srv, Coll, Rate, Dur, Start, max(Sent, Due))
    end.

spawn_callers(_, _, N) when N =< 0 -> ok;
spawn_callers(Srv, Coll, N) ->
    spawn(fun() ->
              T0 = now_us(),
              R = (catch gen_server:call(Srv, work, ?CALL_TIMEOUT_MS)),
              Lat = now_us() - T0,
              Coll ! case R of
                         done -> {ok, Lat};
                         {'EXIT', {timeout, _}} -> timeout;
                         _ -> other
                     end
          end),
    spawn_callers(Srv, Coll, N - 1).

%% OkS: ok answers received while the pacer was still sending (goodput).
collect(Sending, Ok, OkS, Tmo, Other, Lats) ->
    receive
        {ok, Lat} ->
            OkS1 = case Sending of true -> OkS + 1; false -> OkS end,
            collect(Sending, Ok + 1, OkS1, Tmo, Other, [Lat | Lats]);
        timeout -> collect(Sending, Ok, OkS, Tmo + 1, Other, Lats);
        other -> collect(Sending, Ok, OkS, Tmo, Other + 1, Lats);
        stopped -> collect(false, Ok, OkS, Tmo, Other, Lats);
        {count, From} ->
            From ! {count, Ok + Tmo + Other},
            collect(Sending, Ok, OkS, Tmo, Other, Lats);
        {report, From} -> From ! {report, Ok, OkS, Tmo, Other, Lats}
    end.

wait_answers(Coll, Sent, Deadline) ->
    Coll ! {count, self()},
    N = receive {count, X} -> X end,
    case N >= Sent orelse now_us() > Deadline of
        true -> ok;
        false -> receive after 10 -> ok end, wait_answers(Coll, Sent, Deadline)
    end.

%% erlang:memory(total) every 100 ms: peak, at half time, at the end of sending.
sample(Pacer, Start, Dur, Base, CapMiB, Peak, Mid, End) ->
    receive
        {stop, From} ->
            From ! {memory, Peak, case Mid of none -> End; _ -> Mid end, End}
    after 100 ->
        M = erlang:memory(total),
        El = (now_us() - Start) / 1.0e6,
        case (M - Base) / (1024 * 1024) > CapMiB of
            true -> Pacer ! cap;
            false -> ok
        end,
        Mid1 = case El >= Dur / 2 andalso Mid =:= none of true -> M; false -> Mid end,
        End1 = case El =< Dur of true -> M; false -> End end,
        sample(Pacer, Start, Dur, Base, CapMiB, max(Peak, M), Mid1, End1)
    end.

%% --- helpers -------------------------------------------------------------------------------

now_us() -> erlang:monotonic_time(microsecond).

to_number(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% Nearest-rank percentile of a sorted list of microseconds, in ms.
pct([], _) -> 0.0;
pct(Sorted, Q) ->
    N = length(Sorted),
    Rank = max(1, min(N, ceil(Q * N))),
    lists:nth(Rank, Sorted) / 1000.

str(S) -> {str, S}.

json(Fields) ->
    "{" ++ lists:join(",", [io_lib:format("\"~s\":~s", [K, val(V)]) || {K, V} <- Fields])
        ++ "}".

val({str, S}) -> io_lib:format("\"~s\"", [S]);
val(V) when is_integer(V) -> integer_to_list(V);
val(V) when is_float(V) -> float_to_list(V, [{decimals, 6}]).
