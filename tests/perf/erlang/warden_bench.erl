%% warden_bench: the Erlang/OTP side of the Warden benchmarks (tests/perf/run.sh compiles
%% this with erlc into a temporary directory and runs it next to the C++ warden_bench).
%%
%%   erl -noshell -kernel logger_level none -pa DIR -run warden_bench main full|quick|smoke RUNS
%%
%% Same workloads, counts and JSON-lines schema as the C++ side (impl "erlang"):
%%   restart    supervisor (one_for_one | one_for_all | rest_for_one) over K registered
%%              gen_servers; the victim (index K div 2) gets exit(Pid, crash); the driver
%%              polls whereis(Name) (erlang:yield() between polls) until a new pid is
%%              registered, then calls gen_server:call(Name, ping) (retried if it fails)
%%              until the new pid answers. One sample = exit sent -> first answer.
%%   dynamic    simple_one_for_one: supervisor:start_child/2 N times, then the supervisor
%%              is stopped (exit(Sup, shutdown), wait for 'DOWN').
%%   throughput gen_server:cast x M in batches of 1000, each followed by an asynchronous
%%              count request (send_request, at most 4 in flight); N sequential calls; via
%%              the registered name and via the pid.
%%   memory     a fresh `erl` per run: erlang:memory(processes) and RSS delta for N
%%              children of a simple_one_for_one supervisor.
%% Every figure is the median over RUNS runs. This module is at once the benchmark driver,
%% the gen_server and the supervisor callback module (init/1 dispatches on its argument).
-module(warden_bench).

-export([main/1, mem_once/1]).
-export([start_worker/1, start_dyn_worker/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).

-define(BIG_INTENSITY, 2147483647).
-define(BATCH, 1000).   % throughput: one-way messages per batch
-define(WINDOW, 4).     % throughput: batches in flight

%% --- callbacks: gen_server (the benchmark service) and supervisor --------------------------

start_worker(Name) -> gen_server:start_link({local, Name}, ?MODULE, worker, []).

start_dyn_worker(_Index) -> gen_server:start_link(?MODULE, worker, []).

init(worker) -> {ok, 0};
init({sup, Flags, Specs}) -> {ok, {Flags, Specs}}.

handle_call(ping, _From, N) -> {reply, self(), N};
handle_call(count, _From, N) -> {reply, N, N}.

handle_cast(tick, N) -> {noreply, N + 1}.

handle_info(_Msg, N) -> {noreply, N}.

terminate(_Reason, _State) -> ok.

code_change(_Old, State, _Extra) -> {ok, State}.

%% --- entry points ----------------------------------------------------------------------------

main(Args) ->
    logger:set_primary_config(level, none),
    process_flag(trap_exit, true),
    {Mode, Runs} = case Args of
                       [M, R | _] -> {list_to_atom(M), list_to_integer(R)};
                       [M] -> {list_to_atom(M), default_runs(list_to_atom(M))};
                       [] -> {full, 5}
                   end,
    Only = case os:getenv("WARDEN_BENCH_ONLY", "") of
               "" -> all;
               S -> [list_to_atom(X) || X <- string:tokens(S, ",")]
           end,
    Want = fun(W) -> Only =:= all orelse lists:member(W, Only) end,
    try
        env(Mode, Runs),
        Want(restart) andalso restart(Mode, Runs),
        Want(dynamic) andalso dynamic(Mode, Runs),
        Want(throughput) andalso throughput(Mode, Runs),
        Want(memory) andalso memory(Mode, Runs),
        halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "warden_bench.erl: ~p:~p~n~p~n", [Class, Reason, Stack]),
        halt(1)
    end.

default_runs(full) -> 5;
default_runs(quick) -> 3;
default_runs(smoke) -> 1.

note(Fmt, Args) -> io:format(standard_error, "[warden_bench.erl] " ++ Fmt ++ "~n", Args).

env(Mode, Runs) ->
    emit(#{impl => erlang, workload => env, 'case' => scheduler, n => 0, runs => 0,
           metrics => #{}, per_run => #{},
           config => #{otp_release => list_to_binary(erlang:system_info(otp_release)),
                       erts => list_to_binary(erlang:system_info(version)),
                       schedulers => erlang:system_info(schedulers),
                       schedulers_online => erlang:system_info(schedulers_online),
                       dirty_cpu_schedulers => erlang:system_info(dirty_cpu_schedulers),
                       logger_level => maps:get(level, logger:get_primary_config()),
                       loadavg => loadavg(),
                       mode => Mode, runs => Runs}}).

%% --- 1. restart latency ------------------------------------------------------------------------

restart_cases(Mode) ->
    Ks = case Mode of smoke -> [1, 10]; _ -> [1, 100, 10000] end,
    [{S, K, restart_n(Mode, S, K)} || S <- [one_for_one, one_for_all, rest_for_one], K <- Ks].

restart_n(smoke, _, _) -> 200;
restart_n(Mode, S, K) ->
    Group = S =/= one_for_one andalso K > 1,
    case {Group, K >= 10000, K =< 100, Mode} of
        {false, true, _, full} -> 20000;
        {false, true, _, quick} -> 5000;
        {false, false, _, full} -> 100000;
        {false, false, _, quick} -> 20000;
        {true, _, true, full} -> 2000;
        {true, _, true, quick} -> 300;
        {true, _, false, full} -> 20;
        {true, _, false, quick} -> 4
    end.

wname(I) -> list_to_atom("bench_w" ++ integer_to_list(I)).

%% OTP's supervisor keeps the time of every restart within the period in a list and walks
%% it on each restart (add_restart/3: lists:takewhile + length), so with an intensity that
%% never gives up each restart costs O(restarts in the last 1-2 s): at this rate 2-4k
%% entries, tens of microseconds, and the latency drifts upwards during a run. Every case
%% is therefore measured twice: as configured (N capped at 20000 / 5000 in quick mode:
%% each restart costs ~0.4 ms of wall time; quick 2000) and with the restart list cleared
%% every 32 samples (sys:replace_state, outside the timed interval; metrics suffixed _cleared)
%% with the same N as the C++ side: the restart path without the bookkeeping.
restart(Mode, Runs) ->
    Cap = case Mode of full -> 20000; quick -> 2000; smoke -> 200 end,
    lists:foreach(
      fun({S, K, N}) ->
              Case = io_lib:format("~s k=~b", [S, K]),
              Ncfg = min(N, Cap),
              PerRun = [begin
                            note("restart ~s n=~b run ~b/~b", [Case, Ncfg, R, Runs]),
                            Cfg = restart_once(S, K, Ncfg, false),
                            note("restart ~s n=~b (restart list cleared) run ~b/~b",
                                 [Case, N, R, Runs]),
                            Cleared = restart_once(S, K, N, true),
                            maps:merge(Cfg, maps:from_list(
                                              [{list_to_atom(atom_to_list(Key) ++ "_cleared"), V}
                                               || {Key, V} <- maps:to_list(Cleared)]))
                        end || R <- lists:seq(1, Runs)],
              emit(record(restart, Case, Ncfg, PerRun,
                          #{victim_index => K div 2, intensity => ?BIG_INTENSITY,
                            period_s => 1, crash => <<"exit(Pid, crash)">>,
                            n_cleared => N,
                            cleared => <<"_cleared metrics: supervisor restart list emptied "
                                         "every 32 samples with sys:replace_state (untimed)">>,
                            probe => <<"whereis(Name) polled with erlang:yield() until a new pid, then gen_server:call(Name, ping, infinity)">>}))
      end, restart_cases(Mode)).

restart_once(Strategy, K, N, Clear) ->
    Specs = [#{id => I, start => {?MODULE, start_worker, [wname(I)]}}
             || I <- lists:seq(0, K - 1)],
    Flags = #{strategy => Strategy, intensity => ?BIG_INTENSITY, period => 1},
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Flags, Specs}),
    Clear andalso check_state_layout(Sup),
    put(clear, case Clear of true -> Sup; false -> undefined end),
    Victim = wname(K div 2),
    Pid0 = gen_server:call(Victim, ping, infinity),
    put(retries, 0),
    Rss0 = rss_bytes(),
    T0 = erlang:monotonic_time(),
    Samples = crash_loop(Victim, Pid0, N, []),
    Wall = to_us(erlang:monotonic_time() - T0),
    Rss1 = rss_bytes(),
    stop_sup(Sup),
    Tenth = max(1, N div 10),
    First = lists:sublist(Samples, Tenth),
    Last = lists:nthtail(N - Tenth, Samples),
    Sorted = lists:sort(Samples),
    #{p50_us => pct(Sorted, 0.5), p99_us => pct(Sorted, 0.99), p999_us => pct(Sorted, 0.999),
      max_us => lists:last(Sorted),
      first10_p50_us => median(First), last10_p50_us => median(Last),
      cycle_us => Wall / N, retries_per_restart => get(retries) / N,
      rss_growth_b_per_restart => (Rss1 - Rss0) / N}.

%% OTP 25's #state{}: {state, name, strategy, children, dynamics, intensity, period,
%% restarts, ...}; refuse to touch anything else.
check_state_layout(Sup) ->
    S = sys:get_state(Sup),
    case {element(1, S), element(6, S), element(7, S), element(8, S)} of
        {state, ?BIG_INTENSITY, 1, L} when is_list(L) -> ok;
        Other -> error({unexpected_supervisor_state_layout, Other})
    end.

%% Every 32 samples, so the list never holds more than 32 entries (walking those costs
%% well under a microsecond) while sys:replace_state, which copies the whole supervisor
%% state back to the caller, stays cheap even with 10000 children.
-define(CLEAR_EVERY, 32).

clear_restarts(Left) ->
    case get(clear) of
        Sup when is_pid(Sup), Left rem ?CLEAR_EVERY =:= 0 ->
            sys:replace_state(Sup, fun(S) -> setelement(8, S, []) end), ok;
        _ ->
            ok
    end.

crash_loop(_Name, _Old, 0, Acc) ->
    lists:reverse(Acc);
crash_loop(Name, Old, N, Acc) ->
    T0 = erlang:monotonic_time(),
    exit(Old, crash),
    New = probe(Name, Old),
    Dt = to_us(erlang:monotonic_time() - T0),
    clear_restarts(N),
    crash_loop(Name, New, N - 1, [Dt | Acc]).

%% Waits for the name to point at a new pid without burning the scheduler the supervisor
%% needs (whereis is cheap; yield lets runnable processes go first), then calls through
%% the name. A call that still fails (the new instance died in between) is retried.
probe(Name, Old) ->
    case whereis(Name) of
        Pid when is_pid(Pid), Pid =/= Old ->
            case catch gen_server:call(Name, ping, infinity) of
                New when is_pid(New), New =/= Old -> New;
                _ -> retry(Name, Old)
            end;
        _ ->
            retry(Name, Old)
    end.

retry(Name, Old) ->
    put(retries, get(retries) + 1),
    erlang:yield(),
    probe(Name, Old).

stop_sup(Sup) ->
    unlink(Sup),
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok end,
    flush_exits().

flush_exits() ->
    receive {'EXIT', _, _} -> flush_exits() after 0 -> ok end.

%% --- 2. dynamic supervisor ---------------------------------------------------------------------

dynamic(Mode, Runs) ->
    Ns = case Mode of smoke -> [1000]; _ -> [10000, 100000] end,
    lists:foreach(
      fun(N) ->
              Case = io_lib:format("n=~b", [N]),
              PerRun = [begin
                            note("dynamic ~s run ~b/~b", [Case, R, Runs]),
                            dynamic_once(N)
                        end || R <- lists:seq(1, Runs)],
              emit(record(dynamic, Case, N, PerRun,
                          #{window => 1, shutdown => <<"default (5000)">>}))
      end, Ns).

dyn_sup() ->
    Flags = #{strategy => simple_one_for_one, intensity => 1000000, period => 5},
    Spec = #{id => worker, start => {?MODULE, start_dyn_worker, []}},
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Flags, [Spec]}),
    Sup.

start_children(_Sup, I, N) when I > N -> ok;
start_children(Sup, I, N) ->
    {ok, _} = supervisor:start_child(Sup, [I]),
    start_children(Sup, I + 1, N).

dynamic_once(N) ->
    Sup = dyn_sup(),
    T0 = erlang:monotonic_time(),
    start_children(Sup, 1, N),
    T1 = erlang:monotonic_time(),
    stop_sup(Sup),
    T2 = erlang:monotonic_time(),
    #{start_us_per_child => to_us(T1 - T0) / N, stop_us_per_child => to_us(T2 - T1) / N,
      total_s => to_us(T2 - T0) / 1.0e6}.

%% --- 3. throughput -----------------------------------------------------------------------------

throughput(Mode, Runs) ->
    {M, N} = case Mode of full -> {1000000, 100000}; quick -> {200000, 20000};
                 smoke -> {10000, 1000} end,
    Rounds = case Mode of smoke -> 2; _ -> 10 end,
    PerRun = [begin
                  note("throughput run ~b/~b", [R, Runs]),
                  throughput_once(M, N, Rounds)
              end || R <- lists:seq(1, Runs)],
    lists:foreach(
      fun(Target) ->
              Runs1 = [maps:get(Target, X) || X <- PerRun],
              emit(record(throughput, Target, M, Runs1,
                          #{oneway_messages => M, round_trips => N, rounds_per_run => Rounds,
                            oneway_batch => ?BATCH, oneway_window_batches => ?WINDOW,
                            target => case Target of
                                          name -> <<"gen_server via registered name">>;
                                          direct -> <<"gen_server via pid">>
                                      end}))
      end, [name, direct]).

throughput_once(M, N, Rounds) ->
    Spec = #{id => svc, start => {?MODULE, start_worker, [bench_svc]}},
    Flags = #{strategy => one_for_one, intensity => 1, period => 5},
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Flags, [Spec]}),
    Pid = gen_server:call(bench_svc, ping),
    Targets = [{name, bench_svc}, {direct, Pid}],
    Acc0 = #{name => {[], [], []}, direct => {[], [], []}},
    Acc = lists:foldl(
            fun(Round, Acc1) ->
                    Order = case Round rem 2 of 0 -> Targets; 1 -> lists:reverse(Targets) end,
                    lists:foldl(
                      fun({Key, T}, Acc2) ->
                              {Rates, RttRates, Samples} = maps:get(Key, Acc2),
                              Mr = M div Rounds, Nr = N div Rounds,
                              Us = oneway(T, Mr),
                              {Xs, Wall} = rtt(T, Nr),
                              maps:put(Key, {[Mr / (Us / 1.0e6) | Rates],
                                             [Nr / (Wall / 1.0e6) | RttRates],
                                             Xs ++ Samples}, Acc2)
                      end, Acc1, Order)
            end, Acc0, lists:seq(0, Rounds - 1)),
    stop_sup(Sup),
    maps:map(fun(_, {Rates, RttRates, Samples}) ->
                     Sorted = lists:sort(Samples),
                     #{oneway_msgs_per_s => median(Rates), rtt_per_s => median(RttRates),
                       rtt_p50_us => pct(Sorted, 0.5), rtt_p99_us => pct(Sorted, 0.99)}
             end, Acc).

%% Same shape as the C++ side: batches of ?BATCH casts, each followed by an asynchronous
%% count request (gen_server:send_request), at most ?WINDOW batches in flight.

oneway(Target, M) ->
    T0 = erlang:monotonic_time(),
    oneway_loop(Target, M, queue:new()),
    to_us(erlang:monotonic_time() - T0).

oneway_loop(_Target, 0, Q) ->
    lists:foreach(fun(R) -> {reply, _} = gen_server:wait_response(R, infinity) end,
                  queue:to_list(Q));
oneway_loop(Target, M, Q) ->
    Q1 = case queue:len(Q) >= ?WINDOW of
             true ->
                 {{value, R}, Rest} = queue:out(Q),
                 {reply, _} = gen_server:wait_response(R, infinity),
                 Rest;
             false ->
                 Q
         end,
    K = min(?BATCH, M),
    cast_loop(Target, K),
    oneway_loop(Target, M - K, queue:in(gen_server:send_request(Target, count), Q1)).

cast_loop(_Target, 0) -> ok;
cast_loop(Target, M) -> gen_server:cast(Target, tick), cast_loop(Target, M - 1).

rtt(Target, N) ->
    T0 = erlang:monotonic_time(),
    Xs = rtt_loop(Target, N, []),
    {Xs, to_us(erlang:monotonic_time() - T0)}.

rtt_loop(_Target, 0, Acc) -> Acc;
rtt_loop(Target, N, Acc) ->
    T0 = erlang:monotonic_time(),
    _ = gen_server:call(Target, ping, infinity),
    rtt_loop(Target, N - 1, [to_us(erlang:monotonic_time() - T0) | Acc]).

%% --- 4. memory -----------------------------------------------------------------------------------

memory(Mode, Runs) ->
    N = case Mode of smoke -> 2000; _ -> 100000 end,
    Erl = filename:join([code:root_dir(), "bin", "erl"]),
    Dir = filename:dirname(code:which(?MODULE)),
    Cmd = lists:flatten(io_lib:format("~s -noshell -kernel logger_level none -pa ~s "
                                      "-run warden_bench mem_once ~b", [Erl, Dir, N])),
    PerRun = [begin
                  note("memory n=~b run ~b/~b", [N, R, Runs]),
                  Out = os:cmd(Cmd),
                  Line = hd([L || L <- string:split(Out, "\n", all),
                                  lists:prefix("MEM ", L)]),
                  ["MEM", Proc, Rss] = string:tokens(Line, " "),
                  #{proc_bytes_per_child => list_to_integer(Proc) / N,
                    rss_bytes_per_child => list_to_integer(Rss) / N}
              end || R <- lists:seq(1, Runs)],
    emit(record(memory, io_lib:format("n=~b", [N]), N, PerRun,
                #{how => <<"fresh erl per run; erlang:memory(processes) and RSS delta">>})).

mem_once([NStr]) ->
    logger:set_primary_config(level, none),
    N = list_to_integer(NStr),
    Sup = dyn_sup(),
    erlang:garbage_collect(),
    timer:sleep(200),
    P0 = erlang:memory(processes),
    R0 = rss_bytes(),
    start_children(Sup, 1, N),
    timer:sleep(200),
    P1 = erlang:memory(processes),
    R1 = rss_bytes(),
    io:format("MEM ~b ~b~n", [P1 - P0, R1 - R0]),
    halt(0).

loadavg() ->
    {ok, Bin} = file:read_file("/proc/loadavg"),
    [A, B, C | _] = string:tokens(binary_to_list(Bin), " \n"),
    list_to_binary(A ++ " " ++ B ++ " " ++ C).

rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = string:tokens(binary_to_list(Bin), " \n"),
    list_to_integer(Resident) * 4096.

%% --- statistics and output ----------------------------------------------------------------------

to_us(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1000.

pct(Sorted, Q) ->
    Len = length(Sorted),
    Rank = min(Len, max(1, ceil(Q * Len))),
    lists:nth(Rank, Sorted).

median([]) -> null;
median(Xs) ->
    S = lists:sort(Xs),
    Len = length(S),
    case Len rem 2 of
        1 -> lists:nth(Len div 2 + 1, S);
        0 -> (lists:nth(Len div 2, S) + lists:nth(Len div 2 + 1, S)) / 2
    end.

%% A record in the C++ schema: medians in metrics, every run in per_run.
record(Workload, Case, N, PerRun, Config) ->
    Keys = lists:usort(lists:append([maps:keys(R) || R <- PerRun])),
    Per = maps:from_list([{K, [maps:get(K, R) || R <- PerRun]} || K <- Keys]),
    Med = maps:map(fun(_, Vs) -> median(Vs) end, Per),
    CaseBin = if is_atom(Case) -> atom_to_binary(Case, utf8); true -> iolist_to_binary(Case) end,
    #{impl => erlang, workload => Workload, 'case' => CaseBin, n => N,
      runs => length(PerRun), metrics => Med, per_run => Per, config => Config}.

emit(Map) ->
    io:format("~s~n", [json(Map)]).

json(M) when is_map(M) ->
    Items = [[json_key(K), ":", json(V)] || {K, V} <- lists:sort(maps:to_list(M))],
    ["{", lists:join(",", Items), "}"];
json(L) when is_list(L) -> ["[", lists:join(",", [json(X) || X <- L]), "]"];
json(true) -> "true";
json(false) -> "false";
json(null) -> "null";
json(A) when is_atom(A) -> json(atom_to_binary(A, utf8));
json(B) when is_binary(B) -> ["\"", escape(binary_to_list(B)), "\""];
json(I) when is_integer(I) -> integer_to_list(I);
json(F) when is_float(F) -> float_to_list(F, [{decimals, 3}, compact]).

json_key(K) when is_atom(K) -> json(atom_to_binary(K, utf8));
json_key(K) when is_binary(K) -> json(K).

escape([]) -> [];
escape([$" | T]) -> [$\\, $" | escape(T)];
escape([$\\ | T]) -> [$\\, $\\ | escape(T)];
escape([C | T]) -> [C | escape(T)].
