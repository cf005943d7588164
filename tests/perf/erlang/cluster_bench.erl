%% cluster_bench: the Erlang side of the cross-node benchmark (warden_cluster_bench):
%% gen_server:call round trip and one-way throughput across two nodes on 127.0.0.1
%% (Erlang distribution over TCP). tests/perf/run.sh starts both nodes:
%%
%%   erl -noshell -name b@127.0.0.1 -setcookie C -pa DIR -run cluster_bench serve
%%   erl -noshell -name a@127.0.0.1 -setcookie C -pa DIR \
%%       -run cluster_bench main b@127.0.0.1 MODE RUNS WARMUP RTT ONEWAY
%%
%% The server node only waits; the client connects to it and, once per run, starts a fresh
%% gen_server on it (rpc:call of start/0), then measures:
%%   - round trip: WARMUP calls, then RTT timed calls gen_server:call(Pid, {ping, I}),
%%     one outstanding; p50 / p99 / p99.9 of the timed ones;
%%   - one-way: ONEWAY gen_server:cast(Pid, tick), then gen_server:call(Pid, count) (which
%%     must answer ONEWAY); messages/s = ONEWAY / (first cast -> answer).
%% Counts and the JSON-lines schema are those of the C++ side (impl "erlang", workload
%% "cluster", case "dist"). When the client is done it stops the server node (init:stop).
-module(cluster_bench).

-export([main/1, serve/0, start/0, cpu_us/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).

%% --- the echo gen_server (runs on the server node) --------------------------------------------

start() ->
    {ok, Pid} = gen_server:start(?MODULE, [], []),
    Pid.

init([]) -> {ok, 0}.

handle_call({ping, X}, _From, N) -> {reply, X, N};
handle_call(count, _From, N) -> {reply, N, 0};
handle_call(stop, _From, N) -> {stop, normal, ok, N}.

handle_cast(tick, N) -> {noreply, N + 1}.

handle_info(_Msg, N) -> {noreply, N}.

terminate(_Reason, _State) -> ok.

code_change(_Old, State, _Extra) -> {ok, State}.

%% --- server node ---------------------------------------------------------------------------------

%% Keeps the node up; the client (or the run script, by PID) ends it.
serve() ->
    logger:set_primary_config(level, none),
    io:format("READY ~s~n", [node()]).

%% --- client node ---------------------------------------------------------------------------------

main([ServerStr, ModeStr, RunsStr, WarmupStr, RttStr, OnewayStr]) ->
    logger:set_primary_config(level, none),
    Server = list_to_atom(ServerStr),
    [Runs, Warmup, Rtt, Oneway] = [list_to_integer(X)
                                   || X <- [RunsStr, WarmupStr, RttStr, OnewayStr]],
    try
        ok = connect(Server, erlang:monotonic_time(millisecond) + 20000),
        {module, ?MODULE} = rpc:call(Server, code, ensure_loaded, [?MODULE]),
        emit(#{impl => erlang, workload => cluster, 'case' => env, n => 0, runs => 0,
               metrics => #{}, per_run => #{},
               config => #{otp_release => list_to_binary(erlang:system_info(otp_release)),
                           erts => list_to_binary(erlang:system_info(version)),
                           schedulers_online => erlang:system_info(schedulers_online),
                           server_schedulers_online =>
                               rpc:call(Server, erlang, system_info, [schedulers_online]),
                           dist_nodelay => dist_nodelay(),
                           loadavg => loadavg(), mode => list_to_binary(ModeStr),
                           runs => Runs}}),
        PerRun = [begin
                      note("dist run ~b/~b", [R, Runs]),
                      run_once(Server, Warmup, Rtt, Oneway)
                  end || R <- lists:seq(1, Runs)],
        emit(record(PerRun, Rtt,
                    #{group => headline, target => <<"Erlang distribution: gen_server:call "
                                                      "across two erl -name nodes">>,
                      variant => <<"dist">>, warmup => Warmup, round_trips => Rtt,
                      oneway_messages => Oneway, settings => #{}})),
        ok = rpc:call(Server, init, stop, []),  % synchronous: a cast may be lost at halt
        halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "cluster_bench.erl: ~p:~p~n~p~n", [Class, Reason, Stack]),
        halt(1)
    end.

%% The server node may still be starting: retry net_kernel:connect_node until the deadline.
connect(Server, Deadline) ->
    case net_kernel:connect_node(Server) of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, {cannot_connect, Server}};
                false -> receive after 50 -> connect(Server, Deadline) end
            end
    end.

run_once(Server, Warmup, Rtt, Oneway) ->
    Pid = rpc:call(Server, ?MODULE, start, []),
    true = is_pid(Pid),
    calls(Pid, 0, Warmup),
    Cpu0 = cpu_us() + rpc:call(Server, ?MODULE, cpu_us, []),
    T0 = erlang:monotonic_time(),
    Xs = lists:sort(timed_calls(Pid, Warmup, Warmup + Rtt, [])),
    Wall = to_us(erlang:monotonic_time() - T0),
    Cpu = cpu_us() + rpc:call(Server, ?MODULE, cpu_us, []) - Cpu0,
    0 = gen_server:call(Pid, count, infinity),
    T1 = erlang:monotonic_time(),
    casts(Pid, Oneway),
    Oneway = gen_server:call(Pid, count, infinity),
    Us = to_us(erlang:monotonic_time() - T1),
    ok = gen_server:call(Pid, stop, infinity),
    Sum = lists:sum(Xs),
    Rate = case Oneway of 0 -> #{}; _ -> #{oneway_msgs_per_s => Oneway / (Us / 1.0e6)} end,
    maps:merge(Rate, #{rtt_p50_us => pct(Xs, 0.5), rtt_p99_us => pct(Xs, 0.99),
                       rtt_p999_us => pct(Xs, 0.999), rtt_mean_us => Sum / length(Xs),
                       rtt_cpu_us => Cpu / Rtt,
                       rtt_per_s => Rtt / (Wall / 1.0e6)}).

calls(_Pid, I, N) when I >= N -> ok;
calls(Pid, I, N) -> I = gen_server:call(Pid, {ping, I}, infinity), calls(Pid, I + 1, N).

timed_calls(_Pid, I, N, Acc) when I >= N -> Acc;
timed_calls(Pid, I, N, Acc) ->
    T0 = erlang:monotonic_time(),
    I = gen_server:call(Pid, {ping, I}, infinity),
    timed_calls(Pid, I + 1, N, [to_us(erlang:monotonic_time() - T0) | Acc]).

casts(_Pid, 0) -> ok;
casts(Pid, M) -> gen_server:cast(Pid, tick), casts(Pid, M - 1).

%% The TCP_NODELAY option of the distribution connection(s) (OTP sets it by default).
dist_nodelay() ->
    [case inet:getopts(Port, [nodelay]) of
         {ok, [{nodelay, V}]} -> V;
         _ -> unknown
     end || {_Node, Port} <- erlang:system_info(dist_ctrl), is_port(Port)].

%% User + system CPU time of this OS process in microseconds (/proc/self/stat, 100 Hz
%% clock ticks as on Linux x86), like the C++ side's rtt_cpu_us.
cpu_us() ->
    {ok, Bin} = file:read_file("/proc/self/stat"),
    Rest = lists:last(string:split(binary_to_list(Bin), ")", trailing)),
    Fields = string:tokens(Rest, " "),
    %% Rest starts at field 3 (state): utime is field 14, stime field 15.
    (list_to_integer(lists:nth(12, Fields)) + list_to_integer(lists:nth(13, Fields))) * 10000.

note(Fmt, Args) -> io:format(standard_error, "[cluster_bench.erl] " ++ Fmt ++ "~n", Args).

loadavg() ->
    {ok, Bin} = file:read_file("/proc/loadavg"),
    [A, B, C | _] = string:tokens(binary_to_list(Bin), " \n"),
    list_to_binary(A ++ " " ++ B ++ " " ++ C).

%% --- statistics and output (same schema as warden_bench.erl) ------------------------------------

to_us(Native) -> erlang:convert_time_unit(Native, native, nanosecond) / 1000.

pct(Sorted, Q) ->
    Len = length(Sorted),
    Rank = min(Len, max(1, ceil(Q * Len))),
    lists:nth(Rank, Sorted).

median(Xs) ->
    S = lists:sort(Xs),
    Len = length(S),
    case Len rem 2 of
        1 -> lists:nth(Len div 2 + 1, S);
        0 -> (lists:nth(Len div 2, S) + lists:nth(Len div 2 + 1, S)) / 2
    end.

record(PerRun, N, Config) ->
    Keys = lists:usort(lists:append([maps:keys(R) || R <- PerRun])),
    Per = maps:from_list([{K, [maps:get(K, R) || R <- PerRun]} || K <- Keys]),
    Med = maps:map(fun(_, Vs) -> median(Vs) end, Per),
    #{impl => erlang, workload => cluster, 'case' => dist, n => N, runs => length(PerRun),
      metrics => Med, per_run => Per, config => Config}.

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
