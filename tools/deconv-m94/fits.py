import numpy as np
def read(path):
    with open(path,'rb') as f:
        hdr={}
        nblk=0
        done=False
        while not done:
            blk=f.read(2880); nblk+=1
            for i in range(36):
                card=blk[i*80:(i+1)*80].decode('ascii','replace')
                k=card[:8].strip()
                if k=='END': done=True; break
                if card[8:10]=='= ':
                    v=card[10:].split('/')[0].strip()
                    hdr[k]=v
        bp=int(hdr['BITPIX']); n=int(hdr['NAXIS'])
        shape=[int(hdr['NAXIS%d'%(i+1)]) for i in range(n)][::-1]
        dt={-32:'>f4',-64:'>f8',16:'>i2',32:'>i4',8:'u1'}[bp]
        cnt=int(np.prod(shape))
        a=np.frombuffer(f.read(cnt*np.dtype(dt).itemsize),dtype=dt).reshape(shape).astype(np.float64)
        bz=float(hdr.get('BZERO','0')); bs=float(hdr.get('BSCALE','1'))
        return a*bs+bz, hdr
