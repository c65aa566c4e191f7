/* _speedups.c — the fast path of `with phasewatt.phase()` as a CPython type: the same
 * bookkeeping as _tags.py's pure-Python phase (push the id on this thread's stack, call
 * pw_begin; pop and call pw_end), with every other case handed back to Python. Optional:
 * pip builds it when a compiler is there; without it the binding is pure ctypes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

typedef int (*begin_fn)(uint32_t);
typedef int (*end_fn)(void);

static begin_fn pw_begin_p;
static end_fn pw_end_p;
static PyObject *thread_state;   /* _tags._tls: .stack is this thread's list */
static PyObject *stack_name;     /* "stack" */
static PyObject *enter_other;    /* _tags._enter_other(tag): asyncio, failures */
static PyObject *exit_other;     /* _tags._exit_other(tag, exc): asyncio, leftovers */
static PyObject *begin_failed;   /* _tags._failed(rc) */
static PyObject *run_deferred;   /* _tags._run_deferred(stack) */
static int deferred;             /* an end(handle) waits for a `with` block to end */

typedef struct {
    PyObject_HEAD
    unsigned int pid;
} Phase;

static PyObject *phase_enter(PyObject *self, PyObject *unused)
{
    PyObject *stack = PyObject_GetAttr(thread_state, stack_name);
    if (!stack) return NULL;
    if (!PyList_CheckExact(stack)) {     /* a loop runs on this thread: tasks' stacks */
        Py_DECREF(stack);
        return PyObject_CallFunctionObjArgs(enter_other, self, NULL);
    }
    unsigned int pid = ((Phase *)self)->pid;
    int rc = pw_begin_p(pid);
    PyObject *entry = PyLong_FromUnsignedLong(rc ? 0 : pid);
    int bad = !entry || PyList_Append(stack, entry) < 0;
    Py_XDECREF(entry);
    Py_DECREF(stack);
    if (bad) return NULL;
    if (rc) {
        PyObject *r = PyObject_CallFunction(begin_failed, "i", rc);
        if (!r) return NULL;
        Py_DECREF(r);
    }
    Py_INCREF(self);
    return self;
}

static PyObject *phase_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *stack = PyObject_GetAttr(thread_state, stack_name);
    if (!stack) return NULL;
    Py_ssize_t n = PyList_CheckExact(stack) ? PyList_GET_SIZE(stack) : 0;
    PyObject *top = n ? PyList_GET_ITEM(stack, n - 1) : NULL;
    if (!top || !PyLong_CheckExact(top)) {
        Py_DECREF(stack);
        PyObject *exc = nargs > 0 && args[0] != Py_None ? Py_True : Py_False;
        PyObject *r = PyObject_CallFunctionObjArgs(exit_other, self, exc, NULL);
        if (!r) return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
    }
    int opened = PyObject_IsTrue(top);
    if (PyList_SetSlice(stack, n - 1, n, NULL) < 0) {
        Py_DECREF(stack);
        return NULL;
    }
    if (opened) (void)pw_end_p();
    if (deferred) {
        PyObject *r = PyObject_CallFunctionObjArgs(run_deferred, stack, NULL);
        Py_DECREF(stack);
        if (!r) return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
    }
    Py_DECREF(stack);
    Py_RETURN_FALSE;
}

static PyMethodDef phase_methods[] = {
    {"__enter__", phase_enter, METH_NOARGS, "Opens the phase."},
    {"__exit__", (PyCFunction)(void (*)(void))phase_exit, METH_FASTCALL,
     "Closes exactly the phase this block opened."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef phase_members[] = {
    {"_pid", T_UINT, offsetof(Phase, pid), 0, "the library's id of the name"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PhaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "phasewatt._speedups.Phase",
    .tp_basicsize = sizeof(Phase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The compiled fast path of phasewatt.phase.",
    .tp_methods = phase_methods,
    .tp_members = phase_members,
    .tp_new = PyType_GenericNew,
};

/* init(begin_address, end_address, tls, enter_other, exit_other, failed, run_deferred) */
static PyObject *init(PyObject *mod, PyObject *args)
{
    unsigned long long b, e;
    PyObject *tls, *eo, *xo, *bf, *rd;
    if (!PyArg_ParseTuple(args, "KKOOOOO", &b, &e, &tls, &eo, &xo, &bf, &rd)) return NULL;
    if (!b || !e) {
        PyErr_SetString(PyExc_ValueError, "null pw_begin/pw_end address");
        return NULL;
    }
    pw_begin_p = (begin_fn)(uintptr_t)b;
    pw_end_p = (end_fn)(uintptr_t)e;
    PyObject *keep[] = {tls, eo, xo, bf, rd};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) Py_INCREF(keep[i]);
    thread_state = tls, enter_other = eo, exit_other = xo, begin_failed = bf, run_deferred = rd;
    Py_RETURN_NONE;
}

static PyObject *set_deferred(PyObject *mod, PyObject *unused)
{
    deferred = 1;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"init", init, METH_VARARGS, "Hands the module the library's functions and _tags' state."},
    {"set_deferred", set_deferred, METH_NOARGS, "From now on, exits look for waiting ends."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "The compiled fast path of phasewatt.phase.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    if (PyType_Ready(&PhaseType) < 0) return NULL;
    stack_name = PyUnicode_InternFromString("stack");
    PyObject *m = stack_name ? PyModule_Create(&module) : NULL;
    if (!m) return NULL;
    Py_INCREF(&PhaseType);
    if (PyModule_AddObject(m, "Phase", (PyObject *)&PhaseType) < 0) {
        Py_DECREF(&PhaseType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
