/*
 * A NETCONF client on CESNET's libnetconf2 and libyang (Debian's libnetconf2-dev), the libraries that
 * netopeer2-cli is built on. It exists to test the server as those clients see it: on connect,
 * libnetconf2 builds its YANG context only from what the server announces (hello capabilities with their
 * features, ietf-yang-library) and serves (get-schema), and then builds and parses every RPC, reply and
 * notification with libyang against that context. A server whose hello leaves out ietf-netconf's features
 * cannot receive edit-config to running or validate; one that does not serve the RFC 5277 modules cannot
 * receive create-subscription. The steps are given on the command line and run in order on one session:
 *
 *   lnc2-client HOST PORT USER PASSWORD STEP...
 *
 *   session-id              print "SESSION-ID <n>"
 *   module:NAME             NAME is implemented in the context
 *   feature:MODULE:FEATURE  FEATURE of MODULE is enabled in the context
 *   get-config              <get-config> of running, printed
 *   get[:XPATH]             <get> (with an XPath filter), printed
 *   get-schema:ID[@REV]     <get-schema>, printed
 *   validate:FILE           <validate> of the config in FILE
 *   edit:FILE               <edit-config> of FILE into running
 *   lock / unlock           <lock>/<unlock> running
 *   kill:SID                <kill-session>
 *   subscribe:STREAM        <create-subscription> to STREAM
 *   rpc:FILE                the RPC in FILE (a module's own operation), reply printed
 *   expect-error            the next step must be answered with rpc-error (printed) instead of data or ok
 *   notif:TEXT:SECONDS      receive notifications until one containing TEXT arrives, each printed
 *   hold:SECONDS            keep the session open, doing nothing
 *
 * Every reply is printed as "REPLY <step> <xml>"; every notification as "NOTIF <xml>". The exit code is 0
 * when every step did what it says, 1 on the first step that did not (with "FAILED <step>: <why>").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libyang/libyang.h>
#include <nc_client.h>

#define TIMEOUT_MS 30000

static const char *password;

static char *give_password(const char *username, const char *hostname, void *priv)
{
    (void)username; (void)hostname; (void)priv;
    return strdup(password);
}

/* The server is on loopback with a host key the test generated a moment ago: accept it. */
static int accept_hostkey(const char *hostname, ssh_session session, void *priv)
{
    (void)hostname; (void)session; (void)priv;
    return 0;
}

static void print_nodes(const char *label, const struct lyd_node *node)
{
    char *text = NULL;

    if (node && lyd_print_mem(&text, node, LYD_XML, LYD_PRINT_WITHSIBLINGS | LYD_PRINT_SHRINK) == LY_SUCCESS) {
        printf("%s %s\n", label, text);
    } else {
        printf("%s\n", label);
    }
    free(text);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t size = 0;

    if (!f) {
        return NULL;
    }
    if (getdelim(&text, &size, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* An rpc-reply's envelope tree holds rpc-error children when the server refused the request. */
static int has_rpc_error(const struct lyd_node *envp)
{
    const struct lyd_node *child;

    for (child = envp ? lyd_child(envp) : NULL; child; child = child->next) {
        if (!strcmp(LYD_NAME(child), "rpc-error")) {
            return 1;
        }
    }
    return 0;
}

/* Send one RPC, wait for its reply, print it. 0 when the reply is what the step expected. */
static int call(struct nc_session *session, const char *step, struct nc_rpc *rpc, int want_error)
{
    uint64_t msgid;
    struct lyd_node *envp = NULL, *op = NULL;
    NC_MSG_TYPE type;
    int refused, ret = 1;

    if (!rpc) {
        printf("FAILED %s: libnetconf2 could not build the RPC (its module or feature is not in the context)\n", step);
        return 1;
    }
    if (nc_send_rpc(session, rpc, TIMEOUT_MS, &msgid) != NC_MSG_RPC) {
        printf("FAILED %s: the RPC could not be sent (not valid in the context built from the server)\n", step);
        goto done;
    }
    do {
        type = nc_recv_reply(session, rpc, msgid, TIMEOUT_MS, &envp, &op);
    } while (type == NC_MSG_NOTIF || type == NC_MSG_NONE);
    if (type != NC_MSG_REPLY) {
        printf("FAILED %s: no valid reply (libnetconf2 message type %d)\n", step, (int)type);
        goto done;
    }
    refused = has_rpc_error(envp);
    printf("REPLY %s ", step);
    print_nodes(refused ? "rpc-error" : (op ? "data" : "ok"), refused ? envp : op);
    if (refused != want_error) {
        printf("FAILED %s: %s\n", step, refused ? "the server answered rpc-error" : "expected an rpc-error");
        goto done;
    }
    ret = 0;
done:
    lyd_free_tree(envp);
    lyd_free_tree(op);
    nc_rpc_free(rpc);
    return ret;
}

static int wait_notification(struct nc_session *session, const char *text, int seconds)
{
    time_t deadline = time(NULL) + seconds;
    struct lyd_node *envp = NULL, *op = NULL;
    char *printed = NULL;
    int found = 0;

    while (!found && time(NULL) < deadline) {
        if (nc_recv_notif(session, 1000, &envp, &op) != NC_MSG_NOTIF) {
            continue;
        }
        if (lyd_print_mem(&printed, op, LYD_XML, LYD_PRINT_WITHSIBLINGS | LYD_PRINT_SHRINK) == LY_SUCCESS) {
            printf("NOTIF %s\n", printed);
            found = strstr(printed, text) != NULL;
        }
        free(printed);
        printed = NULL;
        lyd_free_tree(envp);
        lyd_free_tree(op);
        envp = op = NULL;
    }
    if (!found) {
        printf("FAILED notif:%s: no such notification within %d s\n", text, seconds);
    }
    return !found;
}

static int file_rpc(struct nc_session *session, const char *step, const char *path, int want_error,
        struct nc_rpc *(*make)(const char *content))
{
    char *content = read_file(path);
    int ret;

    if (!content) {
        printf("FAILED %s: cannot read %s (%s)\n", step, path, strerror(errno));
        return 1;
    }
    ret = call(session, step, make(content), want_error);
    free(content);
    return ret;
}

static struct nc_rpc *make_validate(const char *content)
{
    return nc_rpc_validate(NC_DATASTORE_CONFIG, content, NC_PARAMTYPE_DUP_AND_FREE);
}

static struct nc_rpc *make_edit(const char *content)
{
    return nc_rpc_edit(NC_DATASTORE_RUNNING, NC_RPC_EDIT_DFLTOP_MERGE, NC_RPC_EDIT_TESTOPT_UNKNOWN,
            NC_RPC_EDIT_ERROPT_UNKNOWN, content, NC_PARAMTYPE_DUP_AND_FREE);
}

static struct nc_rpc *make_generic(const char *content)
{
    return nc_rpc_act_generic_xml(content, NC_PARAMTYPE_DUP_AND_FREE);
}

static int run_step(struct nc_session *session, const char *step, int want_error)
{
    const struct ly_ctx *ctx = nc_session_get_ctx(session);
    const char *arg = strchr(step, ':') ? strchr(step, ':') + 1 : NULL;
    char buf[512];
    char *sep;
    const struct lys_module *mod;

    if (!strcmp(step, "session-id")) {
        printf("SESSION-ID %u\n", nc_session_get_id(session));
        return 0;
    } else if (!strncmp(step, "module:", 7)) {
        mod = ly_ctx_get_module_implemented(ctx, arg);
        printf("%s %s\n", step, mod ? "implemented" : "MISSING");
        return !mod;
    } else if (!strncmp(step, "feature:", 8)) {
        snprintf(buf, sizeof buf, "%s", arg);
        sep = strchr(buf, ':');
        if (!sep) {
            return printf("FAILED %s: expected feature:MODULE:FEATURE\n", step), 1;
        }
        *sep = '\0';
        mod = ly_ctx_get_module_implemented(ctx, buf);
        if (!mod || lys_feature_value(mod, sep + 1) != LY_SUCCESS) {
            return printf("FAILED %s: not enabled in the context built from the server\n", step), 1;
        }
        printf("%s enabled\n", step);
        return 0;
    } else if (!strcmp(step, "get-config")) {
        return call(session, step, nc_rpc_getconfig(NC_DATASTORE_RUNNING, NULL, NC_WD_UNKNOWN, NC_PARAMTYPE_CONST),
                want_error);
    } else if (!strcmp(step, "get") || !strncmp(step, "get:", 4)) {
        return call(session, step, nc_rpc_get(arg, NC_WD_UNKNOWN, NC_PARAMTYPE_CONST), want_error);
    } else if (!strncmp(step, "get-schema:", 11)) {
        snprintf(buf, sizeof buf, "%s", arg);
        sep = strchr(buf, '@');
        if (sep) {
            *sep++ = '\0';
        }
        return call(session, step, nc_rpc_getschema(buf, sep, "yang", NC_PARAMTYPE_DUP_AND_FREE), want_error);
    } else if (!strncmp(step, "validate:", 9)) {
        return file_rpc(session, step, arg, want_error, make_validate);
    } else if (!strncmp(step, "edit:", 5)) {
        return file_rpc(session, step, arg, want_error, make_edit);
    } else if (!strncmp(step, "rpc:", 4)) {
        return file_rpc(session, step, arg, want_error, make_generic);
    } else if (!strcmp(step, "lock")) {
        return call(session, step, nc_rpc_lock(NC_DATASTORE_RUNNING), want_error);
    } else if (!strcmp(step, "unlock")) {
        return call(session, step, nc_rpc_unlock(NC_DATASTORE_RUNNING), want_error);
    } else if (!strncmp(step, "kill:", 5)) {
        return call(session, step, nc_rpc_kill((uint32_t)strtoul(arg, NULL, 10)), want_error);
    } else if (!strncmp(step, "subscribe:", 10)) {
        return call(session, step, nc_rpc_subscribe(arg, NULL, NULL, NULL, NC_PARAMTYPE_CONST), want_error);
    } else if (!strncmp(step, "notif:", 6)) {
        snprintf(buf, sizeof buf, "%s", arg);
        sep = strrchr(buf, ':');
        if (!sep) {
            return printf("FAILED %s: expected notif:TEXT:SECONDS\n", step), 1;
        }
        *sep = '\0';
        return wait_notification(session, buf, atoi(sep + 1));
    } else if (!strncmp(step, "hold:", 5)) {
        sleep((unsigned)atoi(arg));
        return 0;
    }
    printf("FAILED %s: unknown step\n", step);
    return 1;
}

int main(int argc, char **argv)
{
    struct nc_session *session;
    int i, want_error = 0, ret = 0;
    char *searchdir;

    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT USER PASSWORD STEP...\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    password = argv[4];
    nc_client_init();
    nc_verbosity(getenv("LNC2_DEBUG") ? NC_VERB_DEBUG : NC_VERB_WARNING);
    /* An empty search dir: every module must come from the server, none from this machine. */
    searchdir = getenv("LNC2_SEARCHDIR");
    if (searchdir) {
        nc_client_set_schema_searchpath(searchdir);
    }
    nc_client_ssh_set_username(argv[3]);
    nc_client_ssh_set_auth_pref(NC_SSH_AUTH_PASSWORD, 10);
    nc_client_ssh_set_auth_pref(NC_SSH_AUTH_PUBLICKEY, -1);
    nc_client_ssh_set_auth_pref(NC_SSH_AUTH_INTERACTIVE, -1);
    nc_client_ssh_set_auth_password_clb(give_password, NULL);
    nc_client_ssh_set_auth_hostkey_check_clb(accept_hostkey, NULL);

    session = nc_connect_ssh(argv[1], (uint16_t)atoi(argv[2]), NULL);
    if (!session) {
        printf("FAILED connect: libnetconf2 could not establish the session\n");
        nc_client_destroy();
        return 1;
    }
    printf("CONNECTED session %u\n", nc_session_get_id(session));
    for (i = 5; i < argc && !ret; ++i) {
        if (!strcmp(argv[i], "expect-error")) {
            want_error = 1;
            continue;
        }
        ret = run_step(session, argv[i], want_error);
        want_error = 0;
        if (!ret) {
            printf("DONE %s\n", argv[i]);
        }
    }
    nc_session_free(session, NULL);
    nc_client_destroy();
    return ret;
}
