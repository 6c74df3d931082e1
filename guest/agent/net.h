/* The guest network (net.c): the agent's UpdateInterface, UpdateRoutes,
 * ListInterfaces and ListRoutes RPCs over rtnetlink, and loopback at start. */
#ifndef JOEY_AGENT_NET_H
#define JOEY_AGENT_NET_H

#include "ttrpc.h"

/* Brings up lo unless it is up already; logs a failure (the agent serves
 * anyway). */
void net__init(void);

int net__update_interface(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r);
int net__update_routes(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r);
int net__list_interfaces(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r);
int net__list_routes(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r);

#endif
