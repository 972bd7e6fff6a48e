/* container.h -- container_of, the one way from a member to its struct.
 *
 * A timer, a waiter or a list node embedded in a larger struct is handed
 * to a callback alone; container_of(ptr, type, member) gives back the
 * struct that holds it. ptr must point to the member of a live type (the
 * compiler refuses a ptr of another type than the member's).
 */
#ifndef CONTAINER_H
#define CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member)                                                            \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member) +                                       \
                      0 * sizeof((ptr) == &((type *)0)->member)))

#endif /* CONTAINER_H */
