import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
r_list = [sk]
while True:
    rl, wl, xl = select.select(r_list, [], [])
    print('ready:', rl)
    for item in rl:
        if item == sk:
            conn, addr = item.accept()
            print('new client', addr)
            r_list.append(conn)
        else:
            try:
                msg = item.recv(1024)
                if msg:
                    print('recv', msg)
                    item.send(msg.upper())
                    continue
            except ConnectionResetError:
                print('client reset')
            print('bye', item)
            r_list.remove(item)
            item.close()
