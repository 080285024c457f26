# gdb support for gort's goroutines (Go: src/runtime/runtime-gdb.py).
#
#   info goroutines          list every goroutine: id, state, wait reason,
#                            spawn site and parent
#   goroutine N bt           backtrace of goroutine N (any gdb command works
#   goroutine all bt         in place of bt), or of every switched-out one
#
# Loading: gort-runtime embeds this script in every binary that links it
# (the .debug_gdb_scripts section), so gdb loads it by itself once the
# binary's directory is trusted:
#     gdb -iex 'add-auto-load-safe-path /path/to/target' ./prog
# or load it by hand:
#     gdb -x runtime/gort-gdb.py ./prog
#
# How it finds goroutines: every live runtime is in
# gort_runtime::checkdead::RUNTIMES, each runtime's Gs in its `allgs`. The
# script reads them through the binary's DWARF types, descending through
# Rust's wrapper types (atomics, cells, NonNull, Vec's raw buffer) by shape
# rather than by exact field path, so it survives std's internal renames.
#
# How `goroutine N bt` works: when a goroutine switches out, the runtime
# stores the instruction, stack and frame pointers of the function that
# suspends it in its G (meta.switch); this command sets the selected
# thread's $pc, $sp and $rbp to those values, runs the command, and puts
# the thread's registers back (as Go's script does). It needs a live
# process (a core file's registers cannot be written). x86_64 only. gdb
# unwinds past the goroutine's first frame into `<signal handler called>`
# (corosensei's trampoline) and then the scheduler's stack as it was when
# the goroutine was last resumed: those frames are not the goroutine's.

import gdb

# gort_runtime::g::WaitReason, in declaration order (runtime/src/g.rs).
WAIT_REASONS = [
    "", "chan receive", "chan send", "select", "select (no cases)",
    "chan receive (nil chan)", "chan send (nil chan)", "sleep", "IO wait",
    "semacquire", "sync.Mutex.Lock", "sync.RWMutex.RLock", "sync.RWMutex.Lock",
    "sync.Cond.Wait", "sync.WaitGroup.Wait", "goroutine join",
    "sync.Barrier.Wait", "preempted", "waiting",
]
# gort_runtime::g::status.
IDLE, RUNNABLE, RUNNING, SYSCALL, WAITING, DEAD = 0, 1, 2, 3, 4, 6
STATUS = {RUNNABLE: "runnable", RUNNING: "running", SYSCALL: "syscall", WAITING: "waiting"}


def _fields(v):
    t = v.type.strip_typedefs()
    if t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return []
    return [f for f in t.fields() if f.name is not None and not f.is_base_class]


def _sized(v):
    return [f for f in _fields(v) if f.type.strip_typedefs().sizeof > 0]


def scalar(v):
    """The integer inside single-field wrappers (AtomicU64, UnsafeCell, ...)."""
    for _ in range(8):
        fs = _sized(v)
        if len(fs) != 1:
            break
        v = v[fs[0].name]
    return int(v)


def pointer(v):
    """The first pointer inside `v` (NonNull, Unique, a Vec's buffer...)."""
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        return v
    for f in _sized(v):
        p = pointer(v[f.name])
        if p is not None:
            return p
    return None


def find(v, pred, depth=6):
    """The first field value, depth first, whose type satisfies `pred`."""
    if pred(v.type.strip_typedefs()):
        return v
    if depth == 0:
        return None
    for f in _sized(v):
        r = find(v[f.name], pred, depth - 1)
        if r is not None:
            return r
    return None


def _is_vec(t):
    return t.code == gdb.TYPE_CODE_STRUCT and (t.name or "").startswith("alloc::vec::Vec<")


def vec_items(v):
    """The elements of a Vec<T> (or of the Vec inside a Lock<Vec<T>>)."""
    v = find(v, _is_vec)
    if v is None:
        return []
    elem = _elem_type(v.type.strip_typedefs())
    length = scalar(_len_field(v))
    ptr = pointer(v["buf"]).cast(elem.pointer())
    return [ptr[i] for i in range(length)]


def _elem_type(t):
    try:
        return t.template_argument(0)
    except (RuntimeError, gdb.error):
        # "alloc::vec::Vec<T, alloc::alloc::Global>": T is up to the last ", ".
        inner = t.name[len("alloc::vec::Vec<"):-1]
        return gdb.lookup_type(inner.rsplit(", ", 1)[0])


def _len_field(v):
    for f in _fields(v):
        if f.name == "len":
            return v[f.name]
    raise gdb.GdbError("gort: unexpected Vec layout: %s" % v.type)


def str_of(v):
    """A &str or NonNull<str> inside `v`, as a Python string."""
    fat = find(v, lambda t: t.code == gdb.TYPE_CODE_STRUCT and
               {f.name for f in t.fields()} >= {"data_ptr", "length"})
    if fat is None:
        return "?"
    n = int(fat["length"])
    if n == 0:
        return ""
    return gdb.selected_inferior().read_memory(int(fat["data_ptr"]), n).tobytes().decode("utf-8", "replace")


def location(p):
    """file:line:col of a *const core::panic::Location."""
    if int(p) == 0:
        return "?"
    loc = p.dereference()
    names = {f.name for f in _fields(loc)}
    line = scalar(loc["line"]) if "line" in names else 0
    col = scalar(loc["col"]) if "col" in names else 0
    return "%s:%d:%d" % (str_of(loc), line, col)


def runtimes():
    sym = gdb.lookup_static_symbol("gort_runtime::checkdead::RUNTIMES") or \
        gdb.lookup_global_symbol("gort_runtime::checkdead::RUNTIMES")
    if sym is None:
        raise gdb.GdbError("gort: no gort runtime in this program (gort_runtime::checkdead::RUNTIMES not found)")
    return [pointer(r).dereference() for r in vec_items(sym.value())]


class Goroutine:
    def __init__(self, g):
        self.g = g
        self.id = scalar(g["id"])
        self.status = scalar(g["status"])
        meta = g["meta"]
        self.site = location(pointer(meta["site"]))
        self.parent = scalar(meta["parent"])
        r = scalar(g["wait_reason"])
        self.reason = WAIT_REASONS[r] if r < len(WAIT_REASONS) else "waiting"
        sw = meta["switch"]
        self.pc, self.sp, self.bp = scalar(sw["pc"]), scalar(sw["sp"]), scalar(sw["bp"])

    def state(self):
        if self.status == WAITING:
            return self.reason or "waiting"
        return STATUS.get(self.status, "status %d" % self.status)

    def switched_out(self):
        return self.status in (WAITING, RUNNABLE) and self.sp != 0


def goroutines():
    out = []
    for sched in runtimes():
        for gref in vec_items(sched["allgs"]):
            g = Goroutine(pointer(gref).dereference())
            if g.status not in (IDLE, DEAD):
                out.append(g)
    out.sort(key=lambda g: g.id)
    return out


class InfoGoroutines(gdb.Command):
    """List gort's goroutines: id, state (or wait reason), spawn site, parent."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        for g in goroutines():
            by = "goroutine %d" % g.parent if g.parent else "a plain thread"
            gdb.write("  %-6d %-22s created at %s by %s\n" % (g.id, "[%s]" % g.state(), g.site, by))


class GoroutineCmd(gdb.Command):
    """goroutine (N|all) CMD: run gdb command CMD (e.g. bt) as if in goroutine N,
    which must be switched out (parked or queued)."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        which, _, cmd = arg.strip().partition(" ")
        cmd = cmd.strip() or "bt"
        gs = goroutines()
        if which == "all":
            todo = [g for g in gs if g.switched_out()]
        else:
            try:
                n = int(which, 0)
            except ValueError:
                raise gdb.GdbError("usage: goroutine (N|all) CMD, e.g. goroutine 7 bt")
            todo = [g for g in gs if g.id == n]
            if not todo:
                raise gdb.GdbError("gort: no goroutine %d (see info goroutines)" % n)
            if not todo[0].switched_out():
                raise gdb.GdbError("gort: goroutine %d is %s: its registers are its thread's "
                                   "(use thread/bt on that thread)" % (n, todo[0].state()))
        for g in todo:
            gdb.write("goroutine %d [%s]:\n" % (g.id, g.state()))
            self.run_as(g, cmd)

    @staticmethod
    def run_as(g, cmd):
        gdb.execute("frame 0", to_string=True)
        saved = [int(gdb.parse_and_eval(r)) for r in ("$pc", "$sp", "$rbp")]
        try:
            gdb.execute("set $pc = %d" % g.pc, to_string=True)
            gdb.execute("set $sp = %d" % g.sp, to_string=True)
            gdb.execute("set $rbp = %d" % g.bp, to_string=True)
            gdb.execute(cmd)
        finally:
            gdb.execute("frame 0", to_string=True)
            gdb.execute("set $pc = %d" % saved[0], to_string=True)
            gdb.execute("set $sp = %d" % saved[1], to_string=True)
            gdb.execute("set $rbp = %d" % saved[2], to_string=True)


InfoGoroutines()
GoroutineCmd()
